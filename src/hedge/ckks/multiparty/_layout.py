"""SEAL's serialized layout of ciphertexts, plaintexts, secret keys and key-switching keys.

The multiparty protocols work on the polynomials inside SEAL's objects (NTT form, one row of N
residues per RNS prime), so this module reads and writes SEAL's own uncompressed serialization
(seal-python 4.4.0, pinned in pyproject.toml) and hands the polynomials to numpy as uint64
arrays. Every object written here is loaded back through SEAL's own validating loader
(`SEALContext.from_*_str`), which checks metadata and that every residue is below its prime;
an upgrade that changes the layout fails `tests/ckks/multiparty/test_layout.py` byte for byte.

Layout (little-endian), each object behind SEAL's 16-byte header (magic 0xA15E, header size 16,
version 4.4, compression 0 = none, reserved u16, total size u64):

* Ciphertext / PublicKey: parms_id 4 x u64, is_ntt_form u8, size u64, N u64, primes u64,
  scale f64, correction_factor u64, then a DynArray (its own header, count u64, residues).
  Residue order: polynomial, prime, coefficient.
* Plaintext / SecretKey: parms_id 4 x u64, coefficient count u64, scale f64, DynArray.
* KSwitchKeys (RelinKeys, GaloisKeys): parms_id 4 x u64, dim1 u64, then per row dim2 u64 and
  dim2 serialized PublicKeys.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import seal

from hedge.ckks.container import SEAL_LOAD_ERRORS
from hedge.errors import CorruptDataError

__all__ = [
    "SEAL_HEADER",
    "KSwitchData",
    "PolyData",
    "ciphertext_bytes",
    "kswitch_bytes",
    "parse_ciphertext",
    "parse_kswitch",
    "parse_plaintext",
    "plaintext_bytes",
]

#: The header prefix seal-python 4.4.0 writes (magic, header size, version 4.4, no compression).
SEAL_HEADER = bytes.fromhex("5ea11004040000")
_HEADER = struct.Struct("<7sBQ")
_PARMS = struct.Struct("<4Q")
_CT_META = struct.Struct("<?QQQdQ")
_PT_META = struct.Struct("<Qd")
_U64 = struct.Struct("<Q")
ParmsId = tuple[int, ...]


@dataclass
class PolyData:
    """A SEAL ciphertext (`polys` of shape [size, primes, N]) or plaintext / secret key
    (shape [1, primes, N]), its residues as uint64 in SEAL's order."""

    parms_id: ParmsId
    polys: np.ndarray
    scale: float = 1.0
    is_ntt: bool = True
    correction_factor: int = 1

    @property
    def primes(self) -> int:
        return int(self.polys.shape[1])


@dataclass
class KSwitchData:
    """Key-switching keys: `keys[i][j]` is the j-th decomposition key (a 2-polynomial
    ciphertext at the key level) of row i (RelinKeys: one row; GaloisKeys: one row per Galois
    index, empty rows for elements without a key)."""

    parms_id: ParmsId
    keys: list[list[PolyData]] = field(default_factory=list)


class _Reader:
    def __init__(self, data: bytes, what: str) -> None:
        self.data, self.pos, self.what = memoryview(data), 0, what

    def take(self, s: struct.Struct) -> tuple[Any, ...]:
        if self.pos + s.size > len(self.data):
            raise CorruptDataError(f"{self.what} is truncated at byte {self.pos}")
        out = s.unpack_from(self.data, self.pos)
        self.pos += s.size
        return out

    def header(self) -> int:
        prefix, _, size = self.take(_HEADER)
        if prefix != SEAL_HEADER:
            raise CorruptDataError(f"{self.what} does not have seal-python 4.4.0's "
                                   f"uncompressed layout (header {bytes(prefix)!r})")
        return int(size)

    def residues(self, count: int) -> np.ndarray:
        self.header()
        (n,) = self.take(_U64)
        if n != count or self.pos + 8 * count > len(self.data):
            raise CorruptDataError(f"{self.what} holds {n} residues where {count} were expected")
        out = np.frombuffer(self.data, dtype="<u8", count=count, offset=self.pos).copy()
        self.pos += 8 * count
        return out


def _header(body: bytes) -> bytes:
    return _HEADER.pack(SEAL_HEADER, 0, _HEADER.size + len(body)) + body


def _dynarray(values: np.ndarray) -> bytes:
    flat = np.ascontiguousarray(values, dtype="<u8").reshape(-1)
    return _header(_U64.pack(flat.size) + flat.tobytes())


def _read_ciphertext(r: _Reader) -> PolyData:
    r.header()
    parms = r.take(_PARMS)
    is_ntt, size, n, primes, scale, correction = r.take(_CT_META)
    count = int(size) * int(primes) * int(n)
    polys = r.residues(count).reshape(int(size), int(primes), int(n))
    return PolyData(tuple(parms), polys, float(scale), bool(is_ntt), int(correction))


def _write_ciphertext(ct: PolyData) -> bytes:
    size, primes, n = ct.polys.shape
    body = (_PARMS.pack(*ct.parms_id)
            + _CT_META.pack(ct.is_ntt, size, n, primes, ct.scale, ct.correction_factor))
    return _header(body + _dynarray(ct.polys))


def parse_ciphertext(data: bytes, what: str = "ciphertext") -> PolyData:
    """A serialized Ciphertext or PublicKey as residues; `CorruptDataError` if malformed."""
    r = _Reader(data, what)
    ct = _read_ciphertext(r)
    if r.pos != len(data):
        raise CorruptDataError(f"{what} has {len(data) - r.pos} trailing bytes")
    return ct


def ciphertext_bytes(ct: PolyData) -> bytes:
    """SEAL's serialization of a ciphertext (load it with `from_cipher_str` or, for a
    2-polynomial key-level one, `from_public_str`)."""
    return _write_ciphertext(ct)


def parse_plaintext(data: bytes, n: int, what: str = "plaintext") -> PolyData:
    """A serialized Plaintext or SecretKey (ring degree `n`) as residues of shape
    [1, primes, n]."""
    r = _Reader(data, what)
    r.header()
    parms = r.take(_PARMS)
    coeff_count, scale = r.take(_PT_META)
    count = int(coeff_count)
    if count % n:
        raise CorruptDataError(f"{what} holds {count} residues, not a multiple of N={n}")
    values = r.residues(count).reshape(1, count // n, n)
    if r.pos != len(data):
        raise CorruptDataError(f"{what} has {len(data) - r.pos} trailing bytes")
    return PolyData(tuple(parms), values, float(scale))


def plaintext_bytes(pt: PolyData) -> bytes:
    """SEAL's serialization of a plaintext or secret key (one polynomial)."""
    if pt.polys.shape[0] != 1:
        raise ValueError("a plaintext is one polynomial")
    return _header(_PARMS.pack(*pt.parms_id) + _PT_META.pack(pt.polys[0].size, pt.scale)
                   + _dynarray(pt.polys[0]))


def parse_kswitch(data: bytes, what: str = "key-switching keys") -> KSwitchData:
    """Serialized RelinKeys or GaloisKeys as residues."""
    r = _Reader(data, what)
    r.header()
    parms = r.take(_PARMS)
    (rows,) = r.take(_U64)
    if int(rows) > 1 << 17:
        raise CorruptDataError(f"{what} declares {rows} rows")
    out = KSwitchData(tuple(parms))
    for _ in range(int(rows)):
        (count,) = r.take(_U64)
        if int(count) > 64:
            raise CorruptDataError(f"{what} declares {count} decomposition keys")
        out.keys.append([_read_ciphertext(r) for _ in range(int(count))])
    if r.pos != len(data):
        raise CorruptDataError(f"{what} has {len(data) - r.pos} trailing bytes")
    return out


def kswitch_bytes(keys: KSwitchData) -> bytes:
    """SEAL's serialization of key-switching keys (`from_relin_str` / `from_galois_str`)."""
    parts = [_PARMS.pack(*keys.parms_id), _U64.pack(len(keys.keys))]
    for row in keys.keys:
        parts.append(_U64.pack(len(row)))
        parts.extend(_write_ciphertext(k) for k in row)
    return _header(b"".join(parts))


def load(loader: Any, data: bytes, what: str) -> Any:
    """Load `data` through one of SEAL's validating loaders; `CorruptDataError` on refusal."""
    try:
        return loader(data)
    except SEAL_LOAD_ERRORS as exc:
        raise CorruptDataError(f"SEAL refused the {what}: {exc}") from exc


def seal_ciphertext(context: seal.SEALContext, ct: PolyData) -> seal.Ciphertext:
    """A SEAL ciphertext from residues, validated by SEAL."""
    out: seal.Ciphertext = load(context.from_cipher_str, ciphertext_bytes(ct), "ciphertext")
    return out
