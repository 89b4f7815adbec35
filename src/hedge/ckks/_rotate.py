"""Cyclic rotation of an encrypted vector over its own length (``np.roll(x, -k)``).

Output ciphertext j is a sum of source ciphertexts rotated by slot steps and masked to the slots
they supply. When a single rotation supplies every slot (a vector filling whole ciphertexts), no
mask and no level is needed.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from hedge.ckks.vector import EncryptedVector


Sources = dict[tuple[int, int], np.ndarray]


@functools.lru_cache(maxsize=256)
def rotation_sources(length: int, k: int, slots: int) -> tuple[Sources, ...]:
    """For each output ciphertext: {(source ciphertext, slot step): 0/1 mask over its slots}.

    Cached: the result is shared, callers must not modify the masks."""
    plans = []
    for j in range(-(-length // slots)):
        positions = np.arange(min(slots, length - j * slots))
        source = (j * slots + positions + k) % length
        src_ct, src_slot = source // slots, source % slots
        steps = (src_slot - positions) % slots
        groups: dict[tuple[int, int], np.ndarray] = {}
        for s, r in set(zip(src_ct.tolist(), steps.tolist(), strict=True)):
            mask = np.zeros(slots)
            mask[positions[(src_ct == s) & (steps == r)]] = 1.0
            groups[(s, r)] = mask
        plans.append(groups)
    return tuple(plans)


def rotate_steps(length: int, k: int, slots: int) -> set[int]:
    """Slot steps a rotation by k of a vector of `length` needs (for Galois key planning)."""
    k %= length
    if k == 0:
        return set()
    return {r for groups in rotation_sources(length, k, slots) for _, r in groups if r}


def rotate(v: EncryptedVector, k: int) -> EncryptedVector:
    k %= v.length
    if k == 0 or v.replicated:
        return v
    eng, b = v.engine, v.bundle
    slots = eng.slots
    if v.length == slots and len(v.ciphertexts) == 1:  # whole ciphertext: one plain rotation
        ct = eng.rotate(v.ciphertexts[0], k, b.galois_keys, b.available_steps)
        return v._new([ct], clean=v.clean)
    plans = rotation_sources(v.length, k, slots)
    needs_mask = any(len(g) > 1 or not next(iter(g.values())).all() for g in plans)
    if needs_mask:
        eng.require_depth("rotation of a partial vector", 1, v.level)
    rotated: dict[tuple[int, int], object] = {}
    out = []
    for groups in plans:
        terms = []
        for (s, r), mask in groups.items():
            if (s, r) not in rotated:
                rotated[(s, r)] = eng.rotate(v.ciphertexts[s], r, b.galois_keys, b.available_steps)
            ct = rotated[(s, r)]
            terms.append(eng.mul_plain_to(ct, mask, v.level - 1) if needs_mask else ct)
        out.append(eng.add_many(terms))
    return v._new(out, clean=needs_mask or v.clean)
