"""hedge's versioned, self-describing binary container, readable incrementally.

Layout (little-endian)::

    magic      8 bytes   b"\\x89HEDGE\\r\\n"  (binary-safe, catches text-mode mangling)
    version    u16       FORMAT_VERSION
    kind       u16       what the records are: an engine kind (ciphertext vector, public bundle,
                         keystore) or one an application registers in `APPLICATION_KINDS`
    hlen       u32       length of the header
    header     hlen      UTF-8 JSON object: parameter id, key fingerprint, lengths, ...
    hcrc       u32       CRC-32 of everything above
    records    repeated: tag u16, length u64, payload, CRC-32 of tag+length+payload
    end        tag 0, length 8, payload = u64 number of records, CRC-32

Every record can be checked and used as soon as it is read (`read_container` is a generator over
a binary stream), and a missing end record, a bad CRC, unknown magic or version, or trailing bytes
raise `CorruptDataError`. CRC-32 detects accidental corruption; it is not a defence against
deliberate tampering, which the layers above handle with signatures and AEAD.
"""

from __future__ import annotations

import io
import json
import math
import struct
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import IO, Any

from hedge.errors import CorruptDataError, ParameterError

__all__ = ["APPLICATION_KINDS", "ENGINE_KINDS", "FORMAT_VERSION", "Kind", "application_kind",
           "read_container", "read_header", "write_container"]

MAGIC = b"\x89HEDGE\r\n"
FORMAT_VERSION = 1
_PREFIX = struct.Struct("<8sHHI")
#: Bytes before the header: enough for `peek_kind`.
PREFIX_SIZE = _PREFIX.size
_REC = struct.Struct("<HQ")
_CRC = struct.Struct("<I")
_END_TAG = 0
MAX_HEADER = 1 << 20
MAX_RECORD = 1 << 34


class Kind:
    """The engine's own container kinds (the u16 after the version), in `ENGINE_KINDS`."""

    VECTOR = 1
    BUNDLE = 2
    KEYSTORE = 3
    #: a collective bundle without its seeded halves (`hedge.ckks.multiparty.compact`)
    COMPACT_BUNDLE = 1000


#: Kind numbers reserved for the engine's own containers (`Kind`); 1000-65535 are reserved for
#: kinds the engine may add later.
ENGINE_KINDS = range(1, 4)
#: Kind numbers applications built on the engine give their own containers (the engine reads
#: and writes them like any other, knowing nothing of what they hold); 0 is never a kind.
APPLICATION_KINDS = range(4, 1000)


def application_kind(number: int) -> int:
    """`number` if it is an application's kind number (in `APPLICATION_KINDS`); `ValueError`
    if not: an application cannot take an engine's kind, nor one outside the u16 ranges."""
    if isinstance(number, bool) or not isinstance(number, int) or number not in (
            APPLICATION_KINDS):
        raise ValueError(f"container kind {number!r} is not in the application range "
                         f"{APPLICATION_KINDS.start}-{APPLICATION_KINDS.stop - 1}")
    return number


@dataclass(frozen=True)
class Header:
    kind: int
    fields: dict[str, Any]


def write_container(
    out: IO[bytes], kind: int, header: dict[str, Any], records: Iterable[tuple[int, bytes]]
) -> int:
    """Write a container to a binary stream; returns the number of bytes written."""
    try:
        head = json.dumps(header, sort_keys=True, separators=(",", ":"), allow_nan=False).encode()
    except ValueError as exc:  # NaN or infinity: `read_header` would refuse it
        raise ParameterError(f"a container header holds a NaN or infinite number ({exc}); "
                             "hedge headers carry finite numbers only") from exc
    prefix = _PREFIX.pack(MAGIC, FORMAT_VERSION, kind, len(head)) + head
    written = out.write(prefix + _CRC.pack(zlib.crc32(prefix)))
    count = 0
    for tag, payload in records:
        if tag == _END_TAG:
            raise ValueError("record tag 0 is reserved")
        written += _write_record(out, tag, payload)
        count += 1
    written += _write_record(out, _END_TAG, struct.pack("<Q", count))
    return written


def _write_record(out: IO[bytes], tag: int, payload: bytes) -> int:
    head = _REC.pack(tag, len(payload))
    crc = zlib.crc32(payload, zlib.crc32(head))
    return out.write(head) + out.write(payload) + out.write(_CRC.pack(crc))


def to_bytes(kind: int, header: dict[str, Any], records: Iterable[tuple[int, bytes]]) -> bytes:
    buf = io.BytesIO()
    write_container(buf, kind, header, records)
    return buf.getvalue()


_CHUNK = 1 << 24


def _read_exact(stream: IO[bytes], n: int, what: str) -> bytes:
    """Read exactly n bytes, in chunks, so a corrupted length cannot allocate gigabytes."""
    if n <= _CHUNK:
        data = stream.read(n)
    else:
        parts: list[bytes] = []
        remaining = n
        while remaining:
            part = stream.read(min(remaining, _CHUNK))
            if not part:
                break
            parts.append(part)
            remaining -= len(part)
        data = b"".join(parts)
    if len(data) != n:
        raise CorruptDataError(f"truncated hedge data: {what} is incomplete")
    return data


def peek_kind(raw: bytes) -> int | None:
    """The container kind from the first PREFIX_SIZE bytes, or None if they are not hedge data
    (lets a receiver refuse, say, a keystore before storing anything of it)."""
    if len(raw) < _PREFIX.size or raw[: len(MAGIC)] != MAGIC:
        return None
    return int(_PREFIX.unpack(raw[: _PREFIX.size])[2])


def read_header(stream: IO[bytes], expected_kind: int | None = None) -> Header:
    """Read and check the container prefix and header; leaves the stream at the first record."""
    return _read_header(stream.read(_PREFIX.size), stream, expected_kind)


def _read_header(raw: bytes, stream: IO[bytes], expected_kind: int | None) -> Header:
    if len(raw) < len(MAGIC) or raw[: len(MAGIC)] != MAGIC:
        raise CorruptDataError("not hedge data (bad magic bytes); check that the file is right")
    if len(raw) != _PREFIX.size:
        raise CorruptDataError("truncated hedge data: header is incomplete")
    _, version, kind, hlen = _PREFIX.unpack(raw)
    if version != FORMAT_VERSION:
        raise CorruptDataError(
            f"hedge data format version {version} is not supported (this hedge reads "
            f"{FORMAT_VERSION}); upgrade hedge or re-export the data"
        )
    if hlen > MAX_HEADER:
        raise CorruptDataError("corrupted hedge data: header length is implausible")
    head = _read_exact(stream, hlen, "header")
    (crc,) = _CRC.unpack(_read_exact(stream, _CRC.size, "header checksum"))
    if crc != zlib.crc32(raw + head):
        raise CorruptDataError("corrupted hedge data: header checksum mismatch")
    if expected_kind is not None and kind != expected_kind:
        raise CorruptDataError(
            f"wrong kind of hedge data: expected kind {expected_kind}, got {kind}"
        )
    try:
        fields = json.loads(head, parse_constant=_refuse_constant, parse_float=_finite_float)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:  # crafted, not corrupted
        raise CorruptDataError(f"malformed hedge data: header is not plain JSON ({exc}); the "
                               "data was not written by hedge or was altered") from exc
    if not isinstance(fields, dict):
        raise CorruptDataError("corrupted hedge data: header is not an object")
    if _depth(fields) > MAX_DEPTH:
        raise CorruptDataError(f"malformed hedge data: the header nests deeper than {MAX_DEPTH} "
                               "levels; the data was not written by hedge or was altered")
    return Header(kind=kind, fields=fields)


#: Deepest nesting of lists and objects a header may have (hedge's own need a handful), so that
#: no reader recurses on what another party sent.
MAX_DEPTH = 32


def _depth(value: Any) -> int:
    """How deeply lists and objects nest in a JSON value (iteratively: never recurses)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, depth)
            if depth <= MAX_DEPTH:
                stack.extend((v, depth + 1) for v in (item.values() if isinstance(item, dict)
                                                      else item))
    return deepest


def _refuse_constant(token: str) -> float:
    """`json.loads` hook: hedge headers never hold NaN, Infinity or -Infinity."""
    raise ValueError(f"the token {token} is not a finite number")


def _finite_float(text: str) -> float:
    """`json.loads` hook: a float literal that overflows to infinity (1e400) is refused."""
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"the number {text[:40]} does not fit a float")
    return value


#: Longest vector (values) or collection (items) a header may declare: far beyond anything hedge
#: makes, and what it declares must still follow in the records.
MAX_LENGTH = 1 << 40
#: What seal-python raises for a record SEAL refuses to load (its C++ exceptions, translated):
#: a reader turns any of them into `CorruptDataError`.
SEAL_LOAD_ERRORS = (RuntimeError, ValueError, IndexError, OverflowError, TypeError, MemoryError)

def read_records(stream: IO[bytes], *, max_record: int = MAX_RECORD) -> Iterator[tuple[int, bytes]]:
    """Yield (tag, payload) records until the end record; checks every CRC and the count."""
    count = 0
    while True:
        head = _read_exact(stream, _REC.size, "record header")
        tag, length = _REC.unpack(head)
        if length > max_record:
            raise CorruptDataError("corrupted hedge data: record length is implausible")
        payload = _read_exact(stream, length, "record")
        (crc,) = _CRC.unpack(_read_exact(stream, _CRC.size, "record checksum"))
        if crc != zlib.crc32(payload, zlib.crc32(head)):
            raise CorruptDataError(f"corrupted hedge data: checksum mismatch in record {count}")
        if tag == _END_TAG:
            if length != 8 or struct.unpack("<Q", payload)[0] != count:
                raise CorruptDataError("corrupted hedge data: record count mismatch")
            return
        count += 1
        yield tag, payload


def read_container(
    stream: IO[bytes], expected_kind: int | None = None, *, allow_eof: bool = False
) -> Any:
    """(header, lazy record iterator) for incremental reading.

    With `allow_eof`, returns None when the stream is already at its end (several containers
    written back to back)."""
    raw = stream.read(_PREFIX.size)
    if allow_eof and not raw:
        return None
    return _read_header(raw, stream, expected_kind), read_records(stream)


def from_bytes(data: bytes, expected_kind: int) -> tuple[Header, list[tuple[int, bytes]]]:
    """Parse a whole in-memory container; trailing bytes are an error."""
    if not isinstance(data, bytes | bytearray | memoryview):
        raise CorruptDataError(f"expected bytes, got {type(data).__name__}")
    stream = io.BytesIO(data)
    header, records = read_container(stream, expected_kind)
    items = list(records)
    if stream.read(1):
        raise CorruptDataError("corrupted hedge data: unexpected bytes after the end record")
    return header, items
