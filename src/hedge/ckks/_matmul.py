"""Vector-matrix product ``x @ M`` by the diagonal method with block packing and BSGS rotations.

Notation: x has length d_in, M is (d_in, d_out). Let D be the input period (d_in, or d_in padded to
d_out * 2^j when d_in > d_out), L = max(D, d_out) the length of the intermediate z and
K = min(D, d_out) the number of generalized diagonals
``diag_k[i] = M[(i + k) mod D, i mod d_out]``, so that ``z[i] = sum_k diag_k[i] * x[(i + k) mod D]``
and y[j] = sum_m z[j + m * d_out] (a fold that only exists when d_in > d_out).

x is first replicated with period D across the slots. The K diagonals are split over B blocks of
width W = delta + D * ceil(L / D) (delta = ceil(K / B)); since W = delta (mod D), block b sees x
already shifted by b * delta, so one plaintext multiplication serves B diagonals at once. Inside a
block the delta diagonals use baby-step giant-step rotations, and log2(B) rotations add the blocks.
All plaintext multiplications happen at one level: depth 1.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from hedge.errors import ShapeError

if TYPE_CHECKING:
    from hedge.ckks.vector import EncryptedVector

# relative costs used to choose the layout (rotations at the input level dominate)
_ROT_TOP, _ROT_LOW, _PLAIN_MUL = 1.0, 0.7, 0.35


@dataclass(frozen=True)
class MatmulPlan:
    d_in: int
    d_out: int
    period: int  # D
    out_len: int  # L
    diagonals: int  # K
    blocks: int  # B
    per_block: int  # delta
    baby: int  # delta1
    width: int  # W
    doublings: int  # e: x is replicated 2^e times

    @property
    def giant(self) -> int:
        return -(-self.per_block // self.baby)

    @property
    def fold(self) -> int:
        return self.out_len // self.d_out if self.d_in > self.d_out else 1

    def rotation_steps(self) -> set[int]:
        """Every slot step the product uses (for Galois key planning)."""
        steps = {-self.period * 2**j for j in range(self.doublings)}
        steps |= set(range(1, self.baby))
        steps |= {g * self.baby for g in range(1, self.giant)}
        steps |= {self.width * 2**j for j in range(int(math.log2(self.blocks)))}
        steps |= {self.d_out * 2**j for j in range(int(math.log2(self.fold)))}
        return steps

    def cost(self) -> float:
        top = self.doublings + self.baby - 1
        low = self.giant - 1 + math.log2(self.blocks) + math.log2(self.fold)
        return _ROT_TOP * top + _ROT_LOW * low + _PLAIN_MUL * self.per_block


def plan_matmul(d_in: int, d_out: int, slots: int) -> MatmulPlan:
    """The cheapest layout for ``x @ M`` with M of shape (d_in, d_out) in `slots` slots."""
    if d_in < 1 or d_out < 1:
        raise ShapeError("matrix dimensions must be positive")
    if d_in > d_out:
        period = d_out * 2 ** math.ceil(math.log2(-(-d_in // d_out)))
        out_len, diagonals = period, d_out
    else:
        period, out_len, diagonals = d_in, d_out, d_in
    best: MatmulPlan | None = None
    blocks = 1
    while blocks <= 2 * diagonals:
        per_block = -(-diagonals // blocks)
        width = per_block + period * -(-out_len // period)
        doublings = max(0, math.ceil(math.log2(blocks * width / period)))
        if period * 2**doublings <= slots:
            for baby in range(1, per_block + 1):
                plan = MatmulPlan(d_in, d_out, period, out_len, diagonals, blocks, per_block,
                                  baby, width, doublings)
                if best is None or plan.cost() < best.cost():
                    best = plan
        blocks *= 2
    if best is None:
        raise ShapeError(
            f"a {d_in}x{d_out} matrix does not fit the {slots} slots of one ciphertext; "
            "split the matrix into column blocks or use a larger preset"
        )
    return best


def _diagonal(m: np.ndarray, plan: MatmulPlan, k: int) -> np.ndarray:
    i = np.arange(plan.out_len)
    return m[(i + k) % plan.period, i % plan.d_out]


def _plaintexts(m: np.ndarray, plan: MatmulPlan, slots: int) -> dict[tuple[int, int], np.ndarray]:
    """Slot vectors P[g, t] multiplying rot_t(x_rep) in giant group g (all-zero ones omitted)."""
    out: dict[tuple[int, int], np.ndarray] = {}
    length = plan.out_len
    for g in range(plan.giant):
        for t in range(plan.baby):
            offset = g * plan.baby + t
            if offset >= plan.per_block:
                continue
            arr = np.zeros(slots)
            for b in range(plan.blocks):
                k = b * plan.per_block + offset
                if k < plan.diagonals:
                    start = b * plan.width + g * plan.baby
                    arr[start : start + length] = _diagonal(m, plan, k)
            if arr.any():
                out[(g, t)] = arr
    return out


def matmul(v: EncryptedVector, matrix: Any) -> EncryptedVector:
    try:
        m = np.asarray(matrix, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ShapeError(f"matmul needs a real matrix: {exc}") from exc
    if m.ndim != 2 or m.shape[0] != v.length:
        raise ShapeError(f"matmul needs a matrix with {v.length} rows, got shape {m.shape}")
    if not np.all(np.isfinite(m)):
        raise ShapeError("matrix contains NaN or infinity")
    if len(v.ciphertexts) != 1 or v.replicated:
        raise ShapeError("matmul takes a vector held in one ciphertext; split longer vectors")
    eng, b = v.engine, v.bundle
    plan = plan_matmul(m.shape[0], m.shape[1], eng.slots)
    if plan.period > m.shape[0]:
        m = np.vstack([m, np.zeros((plan.period - m.shape[0], m.shape[1]))])
    x = v.cleaned()
    eng.require_depth("matmul", 1, x.level)
    gk, steps = b.galois_keys, b.available_steps

    def rot(ct: Any, k: int) -> Any:
        return eng.rotate(ct, k, gk, steps) if k else ct

    rep = x.ciphertexts[0]
    for j in range(plan.doublings):
        rep = eng.evaluator.add(rep, rot(rep, -plan.period * 2**j))
    babies = {t: rot(rep, t) for t in range(plan.baby)}
    target = x.level - 1
    groups: dict[int, list[Any]] = {}
    for (g, t), arr in _plaintexts(m, plan, eng.slots).items():
        groups.setdefault(g, []).append(eng.mul_plain_to(babies[t], arr, target))
    acc = eng.add_many([rot(eng.add_many(terms), g * plan.baby) for g, terms in groups.items()])
    stride = plan.width
    for _ in range(int(math.log2(plan.blocks))):
        acc = eng.evaluator.add(acc, rot(acc, stride))
        stride *= 2
    stride = plan.d_out
    for _ in range(int(math.log2(plan.fold))):
        acc = eng.evaluator.add(acc, rot(acc, stride))
        stride *= 2
    return v._new([acc], plan.d_out, clean=False)
