"""Operations on the doubled-row blocks shared by the estimators."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from hedge.ckks import EncryptedVector
from hedge.ml.dataset import EncryptedDataset
from hedge.ml.layout import RowLayout

__all__ = ["add_all", "column_sums", "doubled_blocks", "penalty_weighted", "row_mask",
           "row_product", "row_sums", "site_weighted"]


def add_all(vectors: list[EncryptedVector]) -> EncryptedVector:
    """The sum of one or more encrypted vectors."""
    total = vectors[0]
    for v in vectors[1:]:
        total = total + v
    return total


def doubled_blocks(data: EncryptedDataset) -> Iterator[tuple[EncryptedVector, int]]:
    """Every doubled block with the number of real rows it holds (the rest is padding)."""
    blocks = iter(data.doubled)
    per_block = data.layout.rows_per_block
    for rows, count in zip(data.site_rows, data.site_blocks(), strict=True):
        for b in range(count):
            yield next(blocks), min(per_block, rows - b * per_block)


def site_weighted(data: EncryptedDataset) -> list[EncryptedVector]:
    """Each site's preconditioned rows times n_s / n (one level, so that depth is the same
    whether there is one site or many)."""
    n = data.rows
    out: list[EncryptedVector] = []
    blocks = iter(data.preconditioned)
    for rows, count in zip(data.site_rows, data.site_blocks(), strict=True):
        for _ in range(count):
            block = next(blocks)
            out.append(block.scaled_to(rows / n, block.level - 1))
    return out


def penalty_weighted(data: EncryptedDataset) -> list[EncryptedVector]:
    """Each site's preconditioned penalty rows times (n_s / n)^2: the site's share of the
    penalty (n_s / n) under its share of the preconditioner (n_s / n). One level."""
    if not data.penalty_preconditioned:
        return []
    return [q.scaled_to((rows / data.rows) ** 2, q.level - 1)
            for q, rows in zip(data.penalty_preconditioned, data.site_rows, strict=True)]


def row_mask(layout: RowLayout, rows: int, value: float, offset: int = 0) -> np.ndarray:
    """`value` at slot `offset` of the first `rows` rows of a block (at most a block's rows),
    zero elsewhere: picks the real rows out of a partly filled block."""
    mask = np.zeros(layout.slots)
    real = min(layout.rows_per_block, rows)
    mask[offset : real * layout.stride : layout.stride] = value
    return mask


def row_sums(layout: RowLayout, v: EncryptedVector) -> EncryptedVector:
    for step in layout.row_sum_steps():
        v = v + v.rotate(step)
    return v


def column_sums(layout: RowLayout, blocks: list[EncryptedVector]) -> EncryptedVector:
    """Sum over all rows of all blocks, tiled back as [s, s] in every row."""
    total = add_all(blocks)
    for step in layout.column_sum_steps():
        total = total + total.rotate(step)
    return total + total.rotate(-layout.width)


def row_product(layout: RowLayout, zd: EncryptedVector, matrix: np.ndarray) -> EncryptedVector:
    """Per row, [z_i, z_i] -> [M^T z_i, 0] for a plaintext (at most width x width) matrix M:
    the diagonal method within each row, baby-step giant-step rotations
    (`layout.row_product_steps`). Depth 1."""
    width, stride = layout.width, layout.stride
    padded = np.zeros((width, width))
    padded[: matrix.shape[0], : matrix.shape[1]] = matrix
    baby, giant = layout.row_product_plan()
    j = np.arange(width)
    babies = [zd.rotate(t) if t else zd for t in range(baby)]
    shifted = []
    for g in range(giant):
        inner = []
        for t in range(min(baby, width - g * baby)):
            pattern = np.zeros(stride)
            # (M^T z)_j = sum_k M[k, j] z_k, diagonal delta = g * baby + t
            pattern[:width] = padded[(j + g * baby + t) % width, j]
            diag = np.roll(np.tile(pattern, layout.rows_per_block), g * baby)
            inner.append(babies[t] * diag)
        block = add_all(inner)
        shifted.append(block.rotate(g * baby) if g else block)
    return add_all(shifted)
