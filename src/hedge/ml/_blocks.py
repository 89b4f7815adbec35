"""Operations on the doubled-row blocks shared by the estimators."""

from __future__ import annotations

from hedge.ckks import EncryptedVector
from hedge.ml.dataset import EncryptedDataset
from hedge.ml.layout import RowLayout

__all__ = ["add_all", "column_sums", "penalty_weighted", "row_sums", "site_weighted"]


def add_all(vectors: list[EncryptedVector]) -> EncryptedVector:
    """The sum of one or more encrypted vectors."""
    total = vectors[0]
    for v in vectors[1:]:
        total = total + v
    return total


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
