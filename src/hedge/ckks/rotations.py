"""Rotation steps an operation needs, so that key sets hold only those Galois keys.

Each Galois key is large (measured: 2.6 MB at N=8192, 23.6 MB at N=16384, 220 MB at N=32768,
uncompressed: this seal-python build offers no compression), so a plan
collects the steps of the operations it will run and passes them to `KeySet.generate(rotations=)`.
Any step can also be composed from others at run time (slower: one key switch per part).
"""

from __future__ import annotations

from collections.abc import Iterable

from hedge.ckks._matmul import plan_matmul
from hedge.ckks._rotate import rotate_steps
from hedge.ckks.params import Parameters

__all__ = ["steps_for_matmul", "steps_for_rotate", "steps_for_sum", "union"]


def steps_for_sum(params: Parameters) -> set[int]:
    """Steps of `EncryptedVector.sum` (rotate-and-sum over all slots)."""
    return {2**i for i in range(params.slot_count.bit_length() - 1)}


def steps_for_rotate(params: Parameters, length: int, k: int) -> set[int]:
    """Steps of `EncryptedVector.rotate(k)` on a vector of `length`."""
    return rotate_steps(length, k, params.slot_count)


def steps_for_matmul(params: Parameters, d_in: int, d_out: int) -> set[int]:
    """Steps of `EncryptedVector.matmul` with a (d_in, d_out) matrix."""
    return plan_matmul(d_in, d_out, params.slot_count).rotation_steps()


def union(*step_sets: Iterable[int]) -> set[int]:
    """All steps of several operations (duplicates removed)."""
    out: set[int] = set()
    for steps in step_sets:
        out |= set(steps)
    return out
