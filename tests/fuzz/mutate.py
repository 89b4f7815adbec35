"""Mutations of valid encodings, driven by a source of choices.

Every decision goes through a `Choices`: `RandomChoices` (a seeded `random.Random`, for long
recorded runs and as atheris' custom mutator) or `DrawChoices` (hypothesis draws, so that
failing inputs shrink). One mutation is one of

* byte level: bit flips (weighted towards the header and the end), truncation, splicing with
  another seed, insertion and deletion of runs, integer fields overwritten with boundary values;
* container level, re-encoded with *valid* CRCs so that the parser gets past its checksums:
  header JSON field mutations (type confusion, huge numbers, deep nesting, NaN and Infinity
  tokens, missing and extra fields, at any depth), version and kind changes, records dropped,
  duplicated, swapped, retagged, truncated, bit-flipped or replaced by another record's payload,
  end-record counts, trailing bytes, and the same recursively inside nested containers (a
  model's weight vector, each of a dataset's vectors, vectors written back to back);
* JSON level (packages, signed messages, model files): the same field mutations on the document.
"""

from __future__ import annotations

import json
import math
import random
import struct
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from hypothesis import strategies as st

T = TypeVar("T")

MAGIC = b"\x89HEDGE\r\n"
_PREFIX = struct.Struct("<8sHHI")
_REC = struct.Struct("<HQ")
_CRC = struct.Struct("<I")


class Choices(Protocol):
    """Where a mutation's decisions come from."""

    def below(self, n: int) -> int:
        """An integer in [0, n) (n >= 1)."""
        ...


class RandomChoices:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def below(self, n: int) -> int:
        return self.rng.randrange(max(n, 1))


class DrawChoices:
    """Hypothesis draws: every decision is part of the example, so failures shrink."""

    def __init__(self, draw: st.DrawFn) -> None:
        self.draw = draw

    def below(self, n: int) -> int:
        return self.draw(st.integers(0, max(n, 1) - 1))


def pick(ch: Choices, options: Sequence[T]) -> T:
    return options[ch.below(len(options))]


def integer(ch: Choices, low: int, high: int) -> int:
    return low + ch.below(high - low + 1)


def chance(ch: Choices, percent: int) -> bool:
    return ch.below(100) < percent


# -- interesting values --------------------------------------------------------------------

#: Raw JSON texts that confuse types and ranges (json.dumps could not write some of them).
INTERESTING_JSON: tuple[str, ...] = (
    "null", "true", "false", "0", "-1", "1", "2", "3", "7", "255", "-500", "65535", "65536",
    "131072", "1048576", "4294967295", "4294967296", "9223372036854775807",
    "18446744073709551616", "1" + "0" * 12, "1" + "0" * 30, "-" + "9" * 40, "9" * 4000,
    "9" * 5000, "0.0", "-0.0", "0.5", "1.5", "2.0", "1e-320", "1e308", "1e400", "-1e400",
    "NaN", "Infinity", "-Infinity", '""', '"x"', '"(bias)"', '"scrypt"', '"regression"',
    '"balanced"', '"\\u0000"', '"\\ud800"', '"' + "a" * 5000 + '"', "[]", "{}", "[1]", "[0]",
    "[-1]", '["x"]', "[null]", "[[]]", "[true]", "[1.5]", '["(bias)","a","a"]', '{"a":1}',
    '{"version":1}', "[" * 33 + "]" * 33, "[" * 1000 + "]" * 1000,
    "[" * 100_000 + "]" * 100_000, '{"a":' * 500 + "0" + "}" * 500,
)

_BOUNDARY_INTS = (0, 1, 2, 7, 8, 0x7F, 0x80, 0xFF, 0xFFFF, 0x10000, 0x7FFFFFFF, 0xFFFFFFFF,
                  1 << 32, 1 << 34, (1 << 63) - 1, (1 << 64) - 1)

_PLACEHOLDER = "\x00hedge-fuzz-placeholder\x00"


def _dump(doc: Any, raw: str | None = None) -> str:
    """JSON text of `doc`, with the placeholder string (if any) replaced by `raw` text."""
    text = json.dumps(doc, sort_keys=True, separators=(",", ":"))
    if raw is not None:
        text = text.replace(json.dumps(_PLACEHOLDER), raw, 1)
    return text


def _paths(doc: Any, limit: int = 400) -> list[tuple[Any, ...]]:
    """Paths to nodes of a JSON document (breadth first, at most `limit`), the root first."""
    out: list[tuple[Any, ...]] = []
    queue: list[tuple[tuple[Any, ...], Any]] = [((), doc)]
    while queue and len(out) < limit:
        path, node = queue.pop(0)
        out.append(path)
        if isinstance(node, dict):
            queue.extend(((*path, k), v) for k, v in node.items())
        elif isinstance(node, list):
            indices = range(len(node)) if len(node) <= 8 else (0, 1, len(node) - 1)
            queue.extend(((*path, i), node[i]) for i in indices)
    return out


def _get(doc: Any, path: tuple[Any, ...]) -> Any:
    for step in path:
        doc = doc[step]
    return doc


def _set(doc: Any, path: tuple[Any, ...], value: Any) -> Any:
    """`doc` with the node at `path` replaced (the root if `path` is empty)."""
    if not path:
        return value
    _get(doc, path[:-1])[path[-1]] = value
    return doc


def _options(value: Any) -> list[Any]:
    """Mutations of a JSON value of its own kind (each a candidate replacement)."""
    out: list[Any] = [[None], [0], ["x"], {}, "", 0, {"x": 1}]
    if isinstance(value, bool):
        out = [not value, int(value), str(value).lower(), None]
    elif isinstance(value, int):
        out = [value + 1, value - 1, -value, 0, value * 2, value << 32, value * 10**12,
               float(value), str(value), [value], True, None]
    elif isinstance(value, float):
        out = [_PLACEHOLDER, -value, value * 1e300, int(value) if math.isfinite(value) else 0,
               str(value), 0.0]
    elif isinstance(value, str):
        out = ["", value * 2, value[:-1], value.upper(), value + "\x00", [value], len(value),
               value[: len(value) // 2]]
    elif isinstance(value, list) and value:
        out = [[], value[1:], [*value, value[0]], value[::-1], value[:1],
               {str(k): v for k, v in enumerate(value)}, json.dumps(value)[:64], value * 2,
               [value], value[:-1]]
    elif isinstance(value, dict) and value:
        key = sorted(value)[0]
        out = [{}, {k: v for k, v in value.items() if k != key}, list(value.values()),
               {**value, key + "_": value[key]}, {key: value[key]}]
    return out


def mutate_json_document(ch: Choices, doc: Any) -> str:
    """JSON text of `doc` with one node changed (type confusion, a boundary value, a mutation
    of its own value, removal or addition of a field), at any depth."""
    paths = _paths(doc)
    path = pick(ch, paths)
    node = _get(doc, path)
    how = ch.below(4)
    if how == 0 and path and isinstance(_get(doc, path[:-1]), dict):  # drop the field
        del _get(doc, path[:-1])[path[-1]]
        return _dump(doc)
    if how == 1 and isinstance(node, dict):  # add a field
        node[pick(ch, ["version", "kind", "rows", "count", "level", "x", "schema"])] = (
            _PLACEHOLDER)
        return _dump(doc, pick(ch, INTERESTING_JSON))
    if how == 2:  # a mutation of the value itself (a float may become NaN or Infinity)
        value = pick(ch, _options(node))
        return _dump(_set(doc, path, value), pick(ch, ["NaN", "Infinity", "-Infinity", "1e400"]))
    return _dump(_set(doc, path, _PLACEHOLDER), pick(ch, INTERESTING_JSON))


def mutate_json_text(ch: Choices, text: bytes) -> bytes:
    """A JSON document mutated as a tree if it parses (mostly), else byte by byte."""
    try:
        doc = json.loads(text)
    except (ValueError, RecursionError):
        return mutate_bytes(ch, text, ())
    if chance(ch, 15):
        return mutate_bytes(ch, text, ())
    try:
        return mutate_json_document(ch, doc).encode("utf-8", "surrogatepass")
    except (RecursionError, ValueError, OverflowError):  # what json cannot write (again)
        return mutate_bytes(ch, text, ())


# -- byte level ------------------------------------------------------------------------------


def _position(ch: Choices, size: int) -> int:
    """Anywhere, weighted towards the start (header) and the end (end record)."""
    if size <= 1:
        return 0
    where = ch.below(4)
    if where == 0:
        return ch.below(min(size, 512))
    if where == 1:
        return size - 1 - ch.below(min(size, 64))
    return ch.below(size)


def _flip(ch: Choices, data: bytes, pool: Sequence[bytes]) -> bytes:
    out = bytearray(data)
    for _ in range(integer(ch, 1, 8)):
        out[_position(ch, len(data))] ^= 1 << ch.below(8)
    return bytes(out)


def _truncate(ch: Choices, data: bytes, pool: Sequence[bytes]) -> bytes:
    return data[: _position(ch, len(data))]


def _splice(ch: Choices, data: bytes, pool: Sequence[bytes]) -> bytes:
    other = pick(ch, pool) if pool else data
    return data[: _position(ch, len(data))] + other[_position(ch, len(other)):]


def _insert(ch: Choices, data: bytes, pool: Sequence[bytes]) -> bytes:
    at = _position(ch, len(data))
    run = pick(ch, [b"\x00" * integer(ch, 1, 64), b"\xff" * integer(ch, 1, 64),
                    data[at: at + integer(ch, 1, 64)], MAGIC])
    return data[:at] + run + data[at:]


def _delete(ch: Choices, data: bytes, pool: Sequence[bytes]) -> bytes:
    at = _position(ch, len(data))
    return data[:at] + data[at + integer(ch, 1, 256):]


def _overwrite(ch: Choices, data: bytes, pool: Sequence[bytes]) -> bytes:
    """An integer field (1, 2, 4 or 8 bytes, little-endian) set to a boundary value."""
    width = pick(ch, [1, 2, 4, 8])
    at = _position(ch, max(len(data) - width, 1))
    value = pick(ch, _BOUNDARY_INTS) & ((1 << (8 * width)) - 1)
    return data[:at] + value.to_bytes(width, "little") + data[at + width:]


_BYTE_MUTATIONS = (_flip, _truncate, _splice, _insert, _delete, _overwrite, _overwrite)


def mutate_bytes(ch: Choices, data: bytes, pool: Sequence[bytes]) -> bytes:
    """One byte-level mutation (checksums are left as they fall)."""
    if not data:
        return pick(ch, [b"\x00", MAGIC, b"{}", b"[" * 1000])
    return pick(ch, _BYTE_MUTATIONS)(ch, data, pool)


# -- container level ---------------------------------------------------------------------------


@dataclass
class Parsed:
    """A container split into its parts, checksums ignored (so mutations can re-encode it)."""

    version: int
    kind: int
    header: bytes
    records: list[tuple[int, bytes]] = field(default_factory=list)
    count: int | None = None  # the end record's count; None: the actual number
    tail: bytes = b""


def parse_lenient(data: bytes) -> tuple[Parsed, int] | None:
    """(parts, bytes used) of the container at the start of `data`, or None."""
    if len(data) < _PREFIX.size or not data.startswith(MAGIC):
        return None
    _, version, kind, hlen = _PREFIX.unpack_from(data)
    at = _PREFIX.size + hlen + _CRC.size
    if at > len(data):
        return None
    parsed = Parsed(version, kind, data[_PREFIX.size: _PREFIX.size + hlen])
    while True:
        if at + _REC.size > len(data):
            return None
        tag, length = _REC.unpack_from(data, at)
        end = at + _REC.size + length + _CRC.size
        if end > len(data):
            return None
        payload = data[at + _REC.size: at + _REC.size + length]
        at = end
        if tag == 0:
            if length != 8:
                return None
            (count,) = struct.unpack("<Q", payload)
            parsed.count = None if count == len(parsed.records) else count
            return parsed, at
        parsed.records.append((tag, payload))


def encode(parsed: Parsed) -> bytes:
    """The container with valid checksums (and whatever else the mutation left)."""
    prefix = _PREFIX.pack(MAGIC, parsed.version, parsed.kind, len(parsed.header))
    prefix += parsed.header
    out = [prefix, _CRC.pack(zlib.crc32(prefix))]
    count = len(parsed.records) if parsed.count is None else parsed.count
    for tag, payload in [*parsed.records, (0, struct.pack("<Q", count))]:
        head = _REC.pack(tag, len(payload))
        out += [head, payload, _CRC.pack(zlib.crc32(payload, zlib.crc32(head)))]
    out.append(parsed.tail)
    return b"".join(out)


def split_containers(data: bytes) -> list[bytes] | None:
    """Containers written back to back (vectors as `iter_vectors` reads them), or None."""
    parts: list[bytes] = []
    at = 0
    while at < len(data):
        found = parse_lenient(data[at:])
        if found is None:
            return None
        parts.append(data[at: at + found[1]])
        at += found[1]
    return parts or None


def _mutate_payload(ch: Choices, payload: bytes, pool: Sequence[bytes], depth: int) -> bytes:
    """A record payload: recursively into nested containers where there are any."""
    if depth < 3 and chance(ch, 70):
        inner = split_containers(payload)
        if inner is not None:
            if len(inner) > 1 and chance(ch, 30):  # drop, duplicate or swap whole containers
                i, j = ch.below(len(inner)), ch.below(len(inner))
                how = ch.below(3)
                if how == 0:
                    del inner[i]
                elif how == 1:
                    inner.insert(j, inner[i])
                else:
                    inner[i], inner[j] = inner[j], inner[i]
            else:
                i = ch.below(len(inner))
                inner[i] = mutate_container(ch, inner[i], pool, depth + 1)
            return b"".join(inner)
    how = ch.below(4)
    if how == 0:  # flip bits, mostly near the start (SEAL's own header)
        out = bytearray(payload) or bytearray(b"\x00")
        for _ in range(integer(ch, 1, 4)):
            at = ch.below(min(len(out), 64)) if chance(ch, 50) else ch.below(len(out))
            out[at] ^= 1 << ch.below(8)
        return bytes(out)
    if how == 1:
        return payload[: ch.below(len(payload) + 1)]
    if how == 2:
        return pick(ch, [b"", b"\x00" * 16, payload + payload[:64]])
    return mutate_bytes(ch, payload, pool)


def mutate_container(ch: Choices, data: bytes, pool: Sequence[bytes] = (),
                     depth: int = 0) -> bytes:
    """One mutation of a container, re-encoded with valid checksums where it is structural."""
    found = parse_lenient(data)
    if found is None or chance(ch, 12):
        return mutate_bytes(ch, data, pool)
    parsed, used = found
    parsed.tail = data[used:]
    records = parsed.records
    how = ch.below(10)
    if how <= 3:  # header fields
        parsed.header = mutate_json_text(ch, parsed.header)
    elif how == 4:
        if chance(ch, 50):
            parsed.version = pick(ch, [0, 2, 0xFFFF])
        else:
            parsed.kind = pick(ch, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0xFFFF])
    elif how == 5 and records:  # records: drop, duplicate, swap, retag
        i, j = ch.below(len(records)), ch.below(len(records))
        what = ch.below(4)
        if what == 0:
            del records[i]
        elif what == 1:
            records.insert(j, records[i])
        elif what == 2:
            records[i], records[j] = records[j], records[i]
        else:
            records[i] = (pick(ch, [1, 2, 3, 9, 0xFFFF]), records[i][1])
    elif how == 6 and records:  # another record's (or seed's) payload in this one's place
        i = ch.below(len(records))
        donors = [p for _, p in records] + [p for seed in pool[:4]
                                            if (f := parse_lenient(seed)) is not None
                                            for _, p in f[0].records]
        records[i] = (records[i][0], pick(ch, donors))
    elif how == 7:  # end record and trailing bytes
        if chance(ch, 50):
            parsed.count = pick(ch, [0, len(records) + 1, (1 << 64) - 1])
        else:
            parsed.tail = pick(ch, [b"\x00", data[:64], MAGIC])
    elif records:  # inside a record
        i = ch.below(len(records))
        records[i] = (records[i][0], _mutate_payload(ch, records[i][1], pool, depth))
    else:
        return mutate_bytes(ch, data, pool)
    return encode(parsed)


Mutator = Callable[[Choices, bytes, Sequence[bytes]], bytes]


def mutate(ch: Choices, data: bytes, pool: Sequence[bytes] = ()) -> bytes:
    """One mutation of hedge data: a container, or a JSON document, or anything."""
    if data.startswith(MAGIC):
        return mutate_container(ch, data, pool)
    if data[:1] in (b"{", b"["):
        return mutate_json_text(ch, data)
    return mutate_bytes(ch, data, pool)


def mutate_many(ch: Choices, data: bytes, pool: Sequence[bytes] = (), most: int = 3) -> bytes:
    """One to `most` mutations in a row."""
    for _ in range(integer(ch, 1, most)):
        data = mutate(ch, data, pool)
    return data
