"""Encrypted assignment: squared distances of encrypted records to given centroids, in the cloud.

The records' owner encrypts its rows under its own key set (`EncryptedRecords.encrypt`, doubled
rows of `RowLayout(max(d, k))`); the cloud, with that owner's public bundle and the plaintext
centroids, computes every row's squared distances to the k centroids
(`encrypted_distances`):

    |x - c_j|^2 = |x|^2 - 2 x . c_j + |c_j|^2

* -2 x . c_j in slot j: one per-row matrix product with -2 C^T (diagonal method, baby-step
  giant-step rotations, 1 level; `hedge.ml._blocks.row_product`);
* |x|^2: the row times itself (ciphertext product, 1 level), summed within the row (the doubled
  layout leaves the sum in each of the row's first `width` slots) and kept in the first k slots
  by a 0/1 mask (1 level);
* |c_j|^2: a plaintext added in slot j.

Depth 2, any preset; rotation keys: the layout's row-sum and row-product steps. The owner of the
records decrypts and takes the argmin (`nearest_segments`): segment labels never exist in the
clear anywhere else. The cloud learns the centroids it was given and the number of records,
nothing about them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hedge.ckks import EncryptedVector, KeySet, PublicBundle, preset
from hedge.ckks.hazmat import decrypt_exact
from hedge.errors import ParameterError, ShapeError
from hedge.ml._blocks import row_product, row_sums
from hedge.ml.layout import RowLayout

__all__ = ["EncryptedRecords", "assignment_keys", "encrypted_distances", "nearest_segments",
           "records_layout"]


def records_layout(features: int, k: int, slots: int) -> RowLayout:
    """Rows wide enough for the features and for one distance per centroid."""
    return RowLayout(max(features, k), slots)


def assignment_keys(features: int, k: int) -> KeySet:
    """A fresh key set for the records' owner: the cheapest preset whose capacity holds every
    squared distance (at most 4 d for scaled features), with the layout's rotation keys."""
    for name in ("fast", "standard", "deep"):
        params = preset(name)
        if 4 * features < params.max_result_magnitude:
            layout = records_layout(features, k, params.slot_count)
            steps = {*layout.row_sum_steps(), *layout.row_product_steps()}
            return KeySet.generate(name, rotations=sorted(steps))
    raise ParameterError(f"{features} features are too many for encrypted assignment")


@dataclass(frozen=True)
class EncryptedRecords:
    blocks: list[EncryptedVector]
    rows: int
    features: int
    layout: RowLayout

    @classmethod
    def encrypt(cls, bundle: PublicBundle, x: np.ndarray, k: int) -> EncryptedRecords:
        """Encrypt scaled rows (values in [-1, 1]) for assignment to up to `k` centroids."""
        x = np.asarray(x, dtype=np.float64)
        if x.ndim != 2 or len(x) == 0:
            raise ShapeError(f"records must be a non-empty matrix, got shape {x.shape}")
        if 4 * x.shape[1] >= bundle.params.max_result_magnitude:
            raise ParameterError(f"distances over {x.shape[1]} features can exceed what the "
                                 f"{bundle.params.name!r} preset holds; use assignment_keys")
        layout = records_layout(x.shape[1], k, bundle.params.slot_count)
        padded = np.zeros((len(x), layout.columns))
        padded[:, : x.shape[1]] = x
        blocks = [bundle.encrypt(b) for b in layout.pack_doubled(padded)]
        return cls(blocks, len(x), x.shape[1], layout)


def encrypted_distances(records: EncryptedRecords, centroids: np.ndarray) -> list[EncryptedVector]:
    """Per block: row i's squared distance to centroid j in slot i * stride + j (depth 2)."""
    c = np.asarray(centroids, dtype=np.float64)
    k = len(c)
    if c.ndim != 2 or c.shape[1] != records.features or k > records.layout.width:
        raise ShapeError(f"centroids of shape {c.shape} do not fit records of "
                         f"{records.features} features in rows of width {records.layout.width}")
    layout = records.layout
    first_k = layout.tile(np.ones(k), doubled=False)
    squares_tiled = layout.tile((c**2).sum(axis=1), doubled=False)
    cross = -2.0 * c.T  # (M^T x)_j = -2 c_j . x
    out = []
    for block in records.blocks:
        norm = row_sums(layout, block * block) * first_k
        out.append(norm + row_product(layout, block, cross) + squares_tiled)
    return out


def nearest_segments(keys: KeySet, distances: list[EncryptedVector], records: EncryptedRecords,
                     k: int) -> tuple[np.ndarray, np.ndarray]:
    """The records' owner: decrypt the distances, return (labels, distance matrix)."""
    layout = records.layout
    rows = []
    for block in distances:
        values = decrypt_exact(keys, block).reshape(layout.rows_per_block, layout.stride)
        rows.append(values[:, :k])
    d2 = np.vstack(rows)[: records.rows]
    return np.argmin(d2, axis=1), d2
