"""The compact bundle: a collective bundle's keys without their seeded halves, bit-packed.

Every public and Galois key of a collective key set is (b, a) with a a common reference
polynomial derived from the bundle's public seed (`CommonReference`): the compact form ships
b and the seed, and the reader derives a again. Each RNS limb is packed to its prime's bit
width (40 of 64 bits for the scale primes). The relinearisation key's a half is the holders'
sum h1, not a seeded polynomial, so it ships whole (packed). Measured for the demo's plan in
`benchmarks/threshold.py`.

Integrity: the fingerprint is the one of the expanded bundle (its public key), so a compact
bundle pinned at enrolment is checked like any other; a SHA-256 over all key records, in the
header, refuses a bundle whose relinearisation or Galois keys were altered after it was written
(and SEAL's loaders refuse residues above their primes). Who wrote it is the signed package's
concern, as for every bundle.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import numpy as np
import seal

from hedge.ckks import container
from hedge.ckks._engine import engine_for
from hedge.ckks.fields import Fields
from hedge.ckks.keys import PublicBundle, fingerprint_of
from hedge.ckks.multiparty import _layout
from hedge.ckks.multiparty.keygen import CommonReference, collective_bundle
from hedge.ckks.multiparty.ring import Ring, ring_for
from hedge.errors import CorruptDataError, KeyMismatchError, ParameterError

__all__ = ["KIND", "compact_bytes", "from_compact_bytes"]

#: Container kind of compact bundles (the engine's range above 1000).
KIND = container.Kind.COMPACT_BUNDLE
_TAG_PUBLIC, _TAG_RELIN, _TAG_GALOIS = 1, 2, 3


def pack(residues: np.ndarray, bits: int) -> bytes:
    """Residues below 2^bits (uint64), `bits` bits each, little-endian bit order."""
    words = np.ascontiguousarray(residues, dtype="<u8").reshape(-1)
    as_bits = np.unpackbits(words.view(np.uint8).reshape(-1, 8), axis=1, bitorder="little")
    return np.packbits(as_bits[:, :bits].reshape(-1), bitorder="little").tobytes()


def unpack(data: bytes, bits: int, count: int) -> np.ndarray:
    """Inverse of `pack` for `count` residues; `CorruptDataError` on a wrong length."""
    if len(data) != (count * bits + 7) // 8:
        raise CorruptDataError(f"a packed key record holds {len(data)} bytes where "
                               f"{(count * bits + 7) // 8} were expected")
    as_bits = np.unpackbits(np.frombuffer(data, np.uint8), bitorder="little")[: count * bits]
    full = np.zeros((count, 64), np.uint8)
    full[:, :bits] = as_bits.reshape(count, bits)
    return np.packbits(full, axis=1, bitorder="little").reshape(-1).view("<u8").copy()


def _pack_poly(ring: Ring, poly: np.ndarray) -> bytes:
    """A key-level polynomial [primes, N], each limb at its prime's width."""
    return b"".join(pack(row, q.bit_length()) for row, q in zip(poly, ring.key_primes,
                                                                 strict=True))


def _unpack_polys(ring: Ring, data: bytes, count: int) -> np.ndarray:
    """`count` key-level polynomials packed one after the other: [count, primes, N]."""
    sizes = [(ring.n * q.bit_length() + 7) // 8 for q in ring.key_primes]
    if len(data) != count * sum(sizes):
        raise CorruptDataError(f"a compact key record holds {len(data)} bytes where "
                               f"{count * sum(sizes)} were expected")
    out = np.empty((count, len(sizes), ring.n), np.uint64)
    pos = 0
    for k in range(count):
        for i, (size, q) in enumerate(zip(sizes, ring.key_primes, strict=True)):
            out[k, i] = unpack(data[pos:pos + size], q.bit_length(), ring.n)
            pos += size
    return out


def _records(bundle: PublicBundle, crs: CommonReference, ring: Ring) -> Iterator[tuple[int, bytes]]:
    pk = _layout.parse_ciphertext(bundle._public_key.to_string()).polys
    if not np.array_equal(pk[1], crs.public_key_a()):
        raise ParameterError("this bundle's public key does not come from its common seed; "
                             "only a collective bundle has a compact form")
    yield _TAG_PUBLIC, _pack_poly(ring, pk[0])
    relin = _layout.parse_kswitch(bundle.relin_keys.to_string()).keys[0]
    yield _TAG_RELIN, b"".join(_pack_poly(ring, p) for k in relin for p in k.polys)
    rows = _layout.parse_kswitch(bundle.galois_keys.to_string()).keys if bundle.rotation_steps \
        else []
    for step in bundle.rotation_steps:
        row = rows[ring.galois_index(step)]
        if not np.array_equal(np.stack([k.polys[1] for k in row]), crs.galois_a(step)):
            raise ParameterError(f"the Galois key of step {step} does not come from the common "
                                 "seed; only a collective bundle has a compact form")
        yield _TAG_GALOIS, b"".join(_pack_poly(ring, k.polys[0]) for k in row)


def _digest(records: list[tuple[int, bytes]]) -> str:
    """SHA-256 over every key record (tag, length, payload)."""
    digest = hashlib.sha256()
    for tag, payload in records:
        digest.update(tag.to_bytes(2, "little") + len(payload).to_bytes(8, "little") + payload)
    return digest.hexdigest()


def compact_bytes(bundle: PublicBundle) -> bytes:
    """The compact form of a collective bundle (`ParameterError` for any other)."""
    if bundle.common_seed is None:
        raise ParameterError("only a collective bundle (with its common seed) has a compact form")
    crs = CommonReference(bundle.params, bundle.common_seed)
    ring = ring_for(bundle.params)
    records = list(_records(bundle, crs, ring))
    header = {"param_id": bundle.params.param_id, "params": bundle.params.to_dict(),
              "fingerprint": bundle.fingerprint, "rotation_steps": list(bundle.rotation_steps),
              "seed": bundle.common_seed.hex(), "digest": _digest(records)}
    return container.to_bytes(KIND, header, records)


def from_compact_bytes(data: bytes, *, expected_fingerprint: str | None = None) -> PublicBundle:
    """Expand a compact bundle: `CorruptDataError` for malformed or altered bytes,
    `KeyMismatchError` for another key set than `expected_fingerprint`."""
    head, records = container.from_bytes(data, KIND)
    fields = Fields(head.fields, "compact bundle header")
    params = fields.parameters()
    if fields.string("param_id", max_length=64) != params.param_id:
        raise CorruptDataError("compact bundle header is inconsistent: parameter id mismatch")
    slots = params.slot_count
    steps = tuple(fields.integers("rotation_steps", 1 - slots, slots - 1, max_items=2 * slots))
    try:
        seed = bytes.fromhex(fields.string("seed", max_length=64))
    except ValueError:
        seed = b""
    if len(seed) != 32:
        raise fields.fail("seed", "the 32-byte common seed in hexadecimal")
    fingerprint = fields.string("fingerprint", max_length=64)
    if _digest(records) != fields.string("digest", max_length=64):
        raise CorruptDataError("compact bundle keys do not match the digest in its header: "
                               "altered after it was written; do not use it")
    tags = [tag for tag, _ in records]
    if tags != [_TAG_PUBLIC, _TAG_RELIN] + [_TAG_GALOIS] * len(steps):
        raise CorruptDataError("compact bundle records are not public key, relinearisation "
                               "keys and one Galois key per declared step")
    ring, crs = ring_for(params), CommonReference(params, seed)
    engine = engine_for(params)
    b = _unpack_polys(ring, records[0][1], 1)[0]
    public = _layout.PolyData(ring.key_parms_id, np.stack([b, crs.public_key_a()]))
    pk = _layout.load(engine.context.from_public_str, _layout.ciphertext_bytes(public),
                      "public key")
    if fingerprint_of(params, pk) != fingerprint:  # before the costly keys are expanded
        raise CorruptDataError("compact bundle fingerprint does not match its public key")
    if expected_fingerprint is not None and fingerprint != expected_fingerprint:
        raise KeyMismatchError(f"this bundle belongs to key set {fingerprint[:12]}…, not to the "
                               f"pinned {expected_fingerprint[:12]}…; do not use it")
    relin = _unpack_polys(ring, records[1][1], 2 * ring.decomposition)
    relin_data = _layout.KSwitchData(ring.key_parms_id, [[
        _layout.PolyData(ring.key_parms_id, relin[2 * j:2 * j + 2])
        for j in range(ring.decomposition)]])
    rk = _layout.load(engine.context.from_relin_str, _layout.kswitch_bytes(relin_data),
                      "relinearisation keys")
    rows: list[list[_layout.PolyData]] = [[] for _ in range(ring.n)] if steps else []
    for step, (_, payload) in zip(steps, records[2:], strict=True):
        bs, a = _unpack_polys(ring, payload, ring.decomposition), crs.galois_a(step)
        rows[ring.galois_index(step)] = [
            _layout.PolyData(ring.key_parms_id, np.stack([bs[j], a[j]]))
            for j in range(ring.decomposition)]
    gk = (_layout.load(engine.context.from_galois_str,
                       _layout.kswitch_bytes(_layout.KSwitchData(ring.key_parms_id, rows)),
                       "Galois keys") if steps else seal.GaloisKeys())
    return collective_bundle(crs, pk, rk, gk, steps)
