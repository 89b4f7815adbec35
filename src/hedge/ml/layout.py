"""Slot layout of an encrypted design matrix: doubled rows.

Row i of the (rows, columns) matrix Z occupies ``stride = 2 * width`` slots, where ``width`` is
``columns`` rounded up to a power of two. Two packings are kept:

* ``doubled``: [z_i, z_i] — a rotate-and-sum with steps 1, 2, ..., width/2 then leaves the full
  dot product z_i . w in each of the first ``width`` slots of the row (the copy makes it cyclic);
* ``first``: [z_i, 0] — its zero half wipes what the rotate-and-sum leaves in the second half.

Weights are tiled [w, w] in every row. Row count and padding are plaintext metadata.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from hedge.errors import ShapeError

__all__ = ["RowLayout"]


@dataclass(frozen=True)
class RowLayout:
    columns: int
    slots: int

    def __post_init__(self) -> None:
        if self.columns < 1 or 2 * self.width > self.slots:
            raise ShapeError(
                f"{self.columns} columns do not fit {self.slots} slots as doubled rows"
            )

    @property
    def width(self) -> int:
        return 1 << max(0, math.ceil(math.log2(self.columns)))

    @property
    def stride(self) -> int:
        return 2 * self.width

    @property
    def rows_per_block(self) -> int:
        return self.slots // self.stride

    def blocks(self, rows: int) -> int:
        return -(-rows // self.rows_per_block)

    def _pack(self, z: np.ndarray, copies: int) -> list[np.ndarray]:
        if z.ndim != 2 or z.shape[1] != self.columns:
            raise ShapeError(f"expected a matrix with {self.columns} columns, got {z.shape}")
        out = []
        for start in range(0, z.shape[0], self.rows_per_block):
            chunk = z[start : start + self.rows_per_block]
            block = np.zeros((self.rows_per_block, self.stride))
            block[: len(chunk), : self.columns] = chunk
            if copies == 2:
                block[: len(chunk), self.width : self.width + self.columns] = chunk
            out.append(block.reshape(-1))
        return out

    def pack_doubled(self, z: np.ndarray) -> list[np.ndarray]:
        """Slot vectors [z_i, z_i] per row, one per block of rows."""
        return self._pack(z, 2)

    def pack_first(self, z: np.ndarray) -> list[np.ndarray]:
        """Slot vectors [z_i, 0] per row, one per block of rows."""
        return self._pack(z, 1)

    def tile(self, row: np.ndarray, *, doubled: bool = True) -> np.ndarray:
        """One row pattern ([w, w] or [w, 0]) repeated over all rows of a block."""
        pattern = np.zeros(self.stride)
        pattern[: row.size] = row
        if doubled:
            pattern[self.width : self.width + row.size] = row
        return np.tile(pattern, self.rows_per_block)

    # -- rotation steps ----------------------------------------------------------------------

    def row_sum_steps(self) -> list[int]:
        return [1 << i for i in range(int(math.log2(self.width)))]

    def column_sum_steps(self) -> list[int]:
        return [self.stride << i for i in range(int(math.log2(self.rows_per_block)))]

    def row_product_plan(self) -> tuple[int, int]:
        """(baby, giant) split of the `width` diagonals of a per-row matrix product."""
        baby = 1 << (int(math.log2(self.width)) + 1) // 2
        return baby, -(-self.width // baby)

    def row_product_steps(self) -> list[int]:
        baby, giant = self.row_product_plan()
        return [*range(1, baby), *(g * baby for g in range(1, giant))]

    def rotation_steps(self) -> set[int]:
        """Every step training with this layout uses."""
        return {*self.row_sum_steps(), *self.column_sum_steps(), -self.width,
                *self.row_product_steps()}
