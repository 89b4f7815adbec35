"""The breach drills' search (tests/test_demo.py, tests/cloud/test_api.py): needles (a value's
bytes and text, a key's or a token's bytes) over regions (what the cloud wrote: files, split into
ciphertext payloads, binary structure and text, and the database's rows), every hit named by
needle, place and offset.

Regions. A hedge container (`hedge.ckks.container`) is parsed, not guessed at: its JSON headers
are text; its prefix, checksums and record framing are binary; a record holding containers (a
dataset's vectors, a model's weights) is parsed in turn; a record holding a SEAL serialization
is a ciphertext payload. A model package (JSON, ``hedge-package-1``) is text but for its AES-GCM
ciphertext (base64), a payload, as is that ciphertext decoded. Database files are binary;
database rows (one region per value), logs, token files and any other file are text.

Where a needle is searched follows from its bytes, so that no search turns up hits by chance:

* payloads: needles of 8 bytes or more with at most 2 zero bytes, or of 16 bytes or more. A SEAL
  ciphertext is uniform residues modulo primes below 2^60, 8 bytes each, little-endian: the
  demo's are mostly 40-bit primes, whose residues have three zero top bytes, so that every
  8-byte window there holds 3 zero bytes at fixed places. An 8-byte needle with at most 2 zero
  bytes cannot match one (and matches the 58/60-bit residues at ~2^-58 per window: never). One
  with 3 or more (float64 of an integer below 2^29, of a half, ...) matches at 2^-40 per window
  and alignment: with the demo's ~1,500 such needles, 3 alignments and ~5e7 windows of 40-bit
  residues, ~0.2 chance hits per dump; writing this drill met one (172.0, 00 00 00 00 00 80 65
  40: a residue 0x4065800000 after one with its three zero top bytes, in the public bundle) and
  the structural ones: every SEAL header reads as float64 2.0 (a size 2 next to the degree
  16384), and the bundle's as big-endian 2.0 (the degree next to zeros). 4-byte needles
  (float32) are never searched there: a 40-bit residue's zero top bytes and the next residue's
  low byte read as float32 0.5, 2.0, 8.0, ... (1.4 million hits in the demo's dump), and a
  float32 without zero bytes turns up in the residues' 5 uniform bytes at 2^-32 per window and
  alignment: ~2 of 8 alignments * 6e7 words * 1,550 needles / 2^32 ~ 43 chance hits (56
  measured).
* binary structure: needles with at least 3 nonzero bytes. A needle of at most 2 nonzero bytes
  (float32 of 156.0 is 00 00 1c 43, float64 of 2.0 is seven zero bytes and 0x40) is what a small
  integer field next to zeros looks like, in SQLite's big-endian page numbers and sizes or a
  container's record lengths.
* text: every needle. Text holds no zero bytes, so a binary needle in it is a leak.
* decimal needles (`Needle.token`): as whole numeric tokens (not part of a longer number, a word
  or a hex digest) in text and binary regions, after time-of-day stamps (``13:21:48.013391``,
  whose seconds read like a decimal) are cut out; not in payloads, where random bytes spell
  short ones too (the demo's 100 MB of payloads besides the public bundle spell "79.0", the
  text of a tool wear, once).
"""

from __future__ import annotations

import base64
import functools
import io
import json
import re
import sqlite3
import struct
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

import numpy as np

from hedge.ckks import container
from hedge.errors import CorruptDataError

__all__ = ["PLACES", "Hit", "Needle", "Place", "Region", "Scanner", "decimal_forms",
           "file_regions", "float_needles", "merged", "report", "row_regions", "secret_needles",
           "sqlite_regions", "text_needles", "windows"]

Place = Literal["payload", "binary", "text"]
PLACES: tuple[Place, ...] = ("payload", "binary", "text")

#: SEAL's serialization header starts with its magic 0xA15E, little-endian.
SEAL_MAGIC = b"\x5e\xa1"
_RECORD = struct.Struct("<HQ")  # a container record's tag and length (hedge.ckks.container)
_CRC = 4
#: A numeric token: neither preceded nor followed by a word character or a dot.
_TOKEN = re.compile(rb"(?<![\w.])-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?(?![\w.])")
#: Time of day as the database and the logs print it (cut out before tokenizing).
_CLOCK = re.compile(rb"(?<!\d)\d{2}:\d{2}:\d{2}(?:[.,]\d{1,6})?(?!\d)")
_CHUNK = 1 << 21  # words per numpy step (16 MB of temporaries)
_TABLE_BITS = 24
_MIX = np.uint32(0x9E3779B1)  # Fibonacci hashing of a 4-byte word into the table


@dataclass(frozen=True)
class Needle:
    """Something that must not be in the dump: `kind` (float64, float32, text, secret, row),
    what it is (for the failure message), its bytes; `token`: a decimal, matched as a whole
    numeric token, else as raw bytes."""

    kind: str
    what: str
    raw: bytes
    token: bool = False

    def __post_init__(self) -> None:
        if not self.token and len(self.raw) < 4:
            raise ValueError(f"needle {self.what!r}: fewer than 4 bytes match by chance")

    def searched_in(self, place: Place) -> bool:
        """Whether this needle is searched in regions of `place` (the module's rules)."""
        if self.token:
            return place != "payload"
        zeros = self.raw.count(0)
        if place == "payload":
            return len(self.raw) >= 16 or (len(self.raw) >= 8 and zeros <= 2)
        if place == "binary":
            return len(self.raw) - zeros >= 3
        return True


@dataclass(frozen=True)
class Region:
    """Bytes the cloud wrote: `where` names the place (a file, a table's column and row),
    `start` is their offset there, `place` what they are (payload, binary, text)."""

    where: str
    data: bytes | memoryview
    start: int = 0
    place: Place = "text"


@dataclass(frozen=True)
class Hit:
    needle: Needle
    where: str
    offset: int

    def __str__(self) -> str:
        shown = self.needle.raw[:6] + b"..." if self.needle.kind == "secret" else self.needle.raw
        return (f"{self.needle.kind} {self.needle.what} ({shown[:24]!r}) in {self.where} at "
                f"offset {self.offset}")


# -- needles ------------------------------------------------------------------------------------

def float_needles(value: float, what: str) -> list[Needle]:
    """float64 little-endian (as numpy writes it) and big-endian (as SQLite stores a REAL),
    float32 little-endian."""
    v = float(value)
    return [Needle("float64", what, struct.pack("<d", v)),
            Needle("float64", what + " (big-endian)", struct.pack(">d", v)),
            Needle("float32", what, struct.pack("<f", v))]


def decimal_forms(value: float, literal: str | None = None) -> set[str]:
    """The texts a value shows in: `literal` (as in its source CSV); Python's repr and str
    (json.dumps writes repr); fixed 2, 3 and 4 decimals (reports, rounding encoders), 6 (printf's
    %f, logging) and %g; numpy's savetxt default (%.18e); the repr of its float32 and that with
    6 decimals (a float32 array through `tolist()` and JSON: 298.1 -> 298.1000061035156); an
    integer also without the decimal point."""
    v = float(value)
    f32 = float(np.float32(v))
    forms = {repr(v), str(v), f"{v:.2f}", f"{v:.3f}", f"{v:.4f}", f"{v:.6f}", f"{v:g}",
             f"{v:.18e}", repr(f32), f"{f32:.6f}"}
    if literal is not None:
        forms.add(literal.strip())
    if v.is_integer():
        forms.add(str(int(v)))
    return forms


def _significant(text: str) -> int:
    mantissa = text.lstrip("-").lower().split("e")[0].replace(".", "")
    return len(mantissa.lstrip("0"))


def text_needles(value: float, what: str, literal: str | None = None, *,
                 public: Iterable[float] = ()) -> list[Needle]:
    """`decimal_forms` as token needles, without the forms that cannot tell the value:

    * fewer than 3 significant digits: "0.35" or "2.0" is a token of any log or header
      ("HTTP/1.1" holds the token 1.1);
    * an integer without a decimal point below 10^5: ids, row counts, sizes, levels, ports,
      years and the parts of every timestamp print as such tokens (the value is still searched
      as "1551.0", "1551.00", ..., as bytes, and in its row's text);
    * a form that reads as 0, 1, -1 or a public constant (`public`: values that the headers
      carry in clear and docs/security.md lists as learnt by the cloud).
    """
    known = {0.0, 1.0, -1.0, *(float(p) for p in public)}
    out = []
    for form in sorted(decimal_forms(value, literal)):
        plain_integer = "." not in form and "e" not in form.lower()
        if (_significant(form) < 3 or (plain_integer and abs(int(form)) < 10**5)
                or float(form) in known):
            continue
        out.append(Needle("text", f"{what} as {form!r}", form.encode(), token=True))
    return out


def secret_needles(secret: bytes | str, what: str) -> list[Needle]:
    """A token (text: as it is) or a key (raw bytes: also as hex and base64, standard and
    URL-safe, with and without padding: what a JSON field or a log would show)."""
    if isinstance(secret, str):
        return [Needle("secret", what, secret.encode())]
    b64 = base64.b64encode(secret)
    forms = {"raw": secret, "hex": secret.hex().encode(), "base64": b64,
             "base64 unpadded": b64.rstrip(b"="),
             "url-safe base64": base64.urlsafe_b64encode(secret).rstrip(b"=")}
    return [Needle("secret", f"{what} ({form})", raw) for form, raw in forms.items()]


def merged(needles: Iterable[Needle]) -> list[Needle]:
    """One needle per kind and bytes (a value in many rows), named by the first with a count of
    the others."""
    groups: dict[tuple[str, bytes, bool], list[Needle]] = {}
    for n in needles:
        groups.setdefault((n.kind, n.raw, n.token), []).append(n)
    return [g[0] if len(g) == 1 else replace(g[0], what=f"{g[0].what} (and {len(g) - 1} more)")
            for g in groups.values()]


def windows(data: bytes, what: str, *, size: int = 32, stride: int = 32,
            start: int = 0) -> list[Needle]:
    """Every `size`-byte window of `data[start:]` at `stride` (a leak of any part of a long
    secret shows one), without windows of few distinct bytes (padding, zeros)."""
    out = []
    for at in range(start, len(data) - size + 1, stride):
        part = data[at:at + size]
        if len(set(part)) >= size // 2:
            out.append(Needle("secret", f"{what}, bytes {at}..{at + size}", part))
    return out


# -- regions ------------------------------------------------------------------------------------

def file_regions(path: Path, where: str, place: Place = "text") -> list[Region]:
    """A file as regions: a hedge container parsed into payloads, binary framing and text
    headers; a model package with its ciphertext marked; anything else whole, as `place`."""
    data = path.read_bytes()
    if data.startswith(container.MAGIC):
        try:
            return _container_regions(data, where)
        except CorruptDataError:  # not parsed: all of it is searched as text
            return [Region(where, data)]
    if data.startswith(b'{"format": "hedge-package-1"'):
        try:
            return _package_regions(data, where)
        except (ValueError, KeyError, TypeError, AttributeError):  # not parsed: all text
            return [Region(where, data)]
    return [Region(where, data, place=place)]


def _container_regions(data: bytes, where: str) -> list[Region]:
    spans: list[tuple[int, int, Place]] = []
    _containers(data, 0, len(data), spans)
    view, regions, at = memoryview(data), [], 0
    for start, end, place in sorted(spans):
        if start > at:
            regions.append(Region(where, view[at:start], at, "binary"))
        regions.append(Region(where, view[start:end], start, place))
        at = end
    if at < len(data):
        regions.append(Region(where, view[at:], at, "binary"))
    return regions


def _containers(data: bytes, start: int, end: int, spans: list[tuple[int, int, Place]]) -> None:
    """Containers back to back in data[start:end]: their headers (text) and SEAL payloads go
    to `spans`; a record that holds containers is parsed in turn; a truncated SEAL record (a
    blob still being written) is a payload to the end."""
    stream = io.BytesIO(data)
    stream.seek(start)
    while stream.tell() < end:
        at = stream.tell()
        container.read_header(stream)  # checks magic, version, header checksum and JSON
        spans.append((at + container.PREFIX_SIZE, stream.tell() - _CRC, "text"))
        while True:
            head = stream.read(_RECORD.size)
            if len(head) != _RECORD.size:
                raise CorruptDataError("truncated record")
            tag, length = _RECORD.unpack(head)
            at = stream.tell()
            seal = data[at:at + len(SEAL_MAGIC)] == SEAL_MAGIC
            if at + length + _CRC > end:
                if not seal:
                    raise CorruptDataError("a record beyond its container")
                spans.append((at, end, "payload"))
                return
            stream.seek(at + length + _CRC)
            if tag == 0:  # the end record
                break
            if data[at:at + len(container.MAGIC)] == container.MAGIC:
                _containers(data, at, at + length, spans)
            elif seal:
                spans.append((at, at + length, "payload"))
            # any other record (none in hedge's formats) stays binary


def _package_regions(data: bytes, where: str) -> list[Region]:
    sealed = json.loads(data)["model"].encode()  # base64 of the AES-GCM ciphertext
    at = data.index(b'"' + sealed + b'"') + 1
    end = at + len(sealed)
    return [Region(where, data[:at]), Region(where, data[at:end], at, "payload"),
            Region(where, data[end:], end),
            Region(f"{where} (its model ciphertext, decoded)", base64.b64decode(sealed),
                   place="payload")]


def row_regions(table: str, columns: Sequence[str], rows: Iterable[Sequence[object]]
                ) -> Iterator[Region]:
    """Every value of every row as it reads (floats as repr, bytes as they are, the rest as
    str), a region each, named by table, column and row (by its first column)."""
    for row in rows:
        for column, value in zip(columns, row, strict=True):
            if value is None:
                continue
            where = f"table {table}, column {column}, row {columns[0]}={row[0]}"
            if isinstance(value, bytes | bytearray | memoryview):
                yield Region(where, bytes(value), place="binary")
            else:
                text = repr(value) if isinstance(value, float) else str(value)
                yield Region(where, text.encode())


def sqlite_regions(path: Path) -> Iterator[Region]:
    """Every row of every table of a SQLite database (its WAL read too), read-only."""
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        tables = [t for (t,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        for table in tables:
            cursor = db.execute(f'SELECT * FROM "{table}"')
            columns = [d[0] for d in cursor.description]
            yield from row_regions(table, columns, cursor.fetchall())
    finally:
        db.close()


# -- the search -----------------------------------------------------------------------------------

class _Index:
    """The raw needles. One of 8 bytes or more is found by 4-aligned words: where it starts at
    offset o, the data's 4-aligned word at o + a, for the a in 0..3 with o + a = 0 (mod 4),
    lies inside it; so each needle has an anchor word for each residue of a (the one of most
    nonzero bytes, in a long needle), and one pass over the data's aligned words, through a
    table of the anchors' hashes (one per place, of the needles searched there), finds every
    place to compare in full. A shorter needle (4 to 7 bytes) is looked up by its first 4 bytes
    at each of the 4 shifts."""

    def __init__(self, needles: Iterable[Needle]) -> None:
        #: anchor word -> the anchor's offset in its needles -> their first 8 bytes -> needles
        self.wide: dict[int, dict[int, dict[bytes, list[Needle]]]] = defaultdict(dict)
        self.narrow: dict[int, list[Needle]] = defaultdict(list)
        words: dict[Place, list[int]] = {p: [] for p in PLACES}
        narrow: dict[Place, list[int]] = {p: [] for p in PLACES}
        for n in needles:
            places = [p for p in PLACES if n.searched_in(p)]
            if len(n.raw) < 8:
                word = int.from_bytes(n.raw[:4], "little")
                self.narrow[word].append(n)
                for p in places:
                    narrow[p].append(word)
                continue
            for word, at in _anchors(n.raw):
                self.wide[word].setdefault(at, {}).setdefault(n.raw[:8], []).append(n)
                for p in places:
                    words[p].append(word)
        self.keys = {p: np.unique(np.array(words[p], np.uint32)) for p in PLACES}
        self.narrow_keys = {p: np.unique(np.array(narrow[p], np.uint32)) for p in PLACES}
        self.table = {p: np.zeros(1 << _TABLE_BITS, dtype=bool) for p in PLACES}
        for p in PLACES:
            self.table[p][_slot(self.keys[p])] = True

    def scan(self, region: Region) -> Iterator[Hit]:
        data, size, place = region.data, len(region.data), region.place
        keys, table, narrow = self.keys[place], self.table[place], self.narrow_keys[place]
        if keys.size and size >= 8:
            words = np.frombuffer(data, "<u4", size // 4)
            for first in range(0, len(words), _CHUNK):
                chunk = words[first:first + _CHUNK]
                found = np.flatnonzero(table[_slot(chunk)])  # cheap, rules out nearly all
                for i in found[_member(chunk[found], keys)]:
                    word = 4 * (first + int(i))
                    for at, heads in self.wide[int(chunk[i])].items():
                        start = word - at
                        head = bytes(data[start:start + 8]) if start >= 0 else b""
                        for n in heads.get(head, ()):
                            if (data[start:start + len(n.raw)] == n.raw
                                    and n.searched_in(place)):
                                yield Hit(n, region.where, region.start + start)
        if narrow.size:
            for shift in range(4):
                count = (size - shift) // 4
                if count <= 0:
                    continue
                words = np.frombuffer(data, "<u4", count, shift)
                for i in np.flatnonzero(_member(words, narrow)):
                    start = shift + 4 * int(i)
                    for n in self.narrow[int(words[i])]:
                        if data[start:start + len(n.raw)] == n.raw and n.searched_in(place):
                            yield Hit(n, region.where, region.start + start)


@functools.cache
def _anchors(raw: bytes) -> tuple[tuple[int, int], ...]:
    """(word, offset) of a needle's anchor for each residue of the offset modulo 4."""
    out = []
    for residue in range(4):
        at = max(range(residue, len(raw) - 3, 4),
                 key=lambda i: (4 - raw[i:i + 4].count(0), -i))
        out.append((int.from_bytes(raw[at:at + 4], "little"), at))
    return tuple(out)


def _member(values: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """Which of `values` are in the sorted `keys` (np.isin sorts both on every call)."""
    at = np.minimum(np.searchsorted(keys, values), len(keys) - 1)
    return np.asarray(keys[at] == values)


def _slot(words: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        return np.asarray((words * _MIX) >> np.uint32(32 - _TABLE_BITS), dtype=np.intp)


class Scanner:
    """All needles over regions, each needle only where the module's rules search it."""

    def __init__(self, needles: Iterable[Needle]) -> None:
        self.needles = list(dict.fromkeys(needles))  # without repeats, in order
        self._index = _Index(n for n in self.needles if not n.token)
        self._tokens: dict[bytes, list[Needle]] = defaultdict(list)
        for n in self.needles:
            if n.token:
                self._tokens[n.raw].append(n)

    def counts(self) -> dict[str, dict[str, int]]:
        """Needles per kind: in all, and searched in payloads, binary and text regions."""
        out: dict[str, dict[str, int]] = {}
        for n in self.needles:
            row = out.setdefault(n.kind, dict.fromkeys(("all", *PLACES), 0))
            row["all"] += 1
            for place in PLACES:
                row[place] += n.searched_in(place)
        return out

    def scan(self, regions: Iterable[Region]) -> list[Hit]:
        hits: list[Hit] = []
        for region in regions:
            hits += self._index.scan(region)
            if region.place != "payload" and self._tokens:
                text = _CLOCK.sub(lambda m: b" " * len(m.group()), region.data)
                hits += [Hit(n, region.where, region.start + m.start())
                         for m in _TOKEN.finditer(text) for n in self._tokens.get(m.group(), ())]
        return hits


def report(hits: Sequence[Hit], limit: int = 25) -> str:
    """Hits for a failure message: how many of each needle kind, then the first `limit`."""
    kinds: dict[str, int] = defaultdict(int)
    for h in hits:
        kinds[h.needle.kind] += 1
    lines = [f"{len(hits)} hit(s): " + ", ".join(f"{k} {v}" for k, v in sorted(kinds.items()))]
    lines += [str(h) for h in hits[:limit]]
    return "\n".join(lines)
