"""A site's own rows in the clear, before they are encrypted (`hedge.ml.dataset`): checks, class
weights, penalty rows and per-class statistics. Nothing here leaves the site unencrypted."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from hedge.errors import SchemaError, ShapeError

__all__ = ["BIAS", "checked_rows", "class_statistics", "class_statistics_length",
           "penalty_rows", "row_weights"]

#: The name of the intercept's column, first in every dataset and model.
BIAS = "(bias)"


def checked_rows(x: Any, y: Any, columns: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Features (rows, d) and targets (rows,) as float64, finite, with d column names;
    `ShapeError` or `SchemaError` if not."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if x.ndim != 2 or y.shape != (x.shape[0],) or x.shape[0] == 0:
        raise ShapeError(f"features {x.shape} and labels {y.shape} do not fit together")
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        raise SchemaError("features or labels contain NaN or infinity")
    if len(columns) != x.shape[1]:
        raise ShapeError(f"{len(columns)} column names for {x.shape[1]} columns")
    return x, y


def penalty_rows(columns: int, alpha: float) -> np.ndarray:
    """sqrt(alpha) e_j for every column but the bias: sum_j (r_j . w) r_j = alpha D w."""
    rows = np.sqrt(alpha) * np.eye(columns)
    return np.asarray(rows[1:])


def class_statistics_length(features: int) -> int:
    """The length of a `class_statistics` vector over `features` features."""
    return 2 * (1 + 2 * features)


def class_statistics(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Per class (0, then 1): row count, per-feature sums, per-feature sums of squares
    (`class_statistics_length(features)` values).

    Computed by the site on its own rows and uploaded encrypted; the cloud adds the sites'
    vectors; the owner may release the pooled result (`hedge.owner.statistics_release`)."""
    parts = []
    for c in (0.0, 1.0):
        rows = x[y == c]
        parts += [np.array([float(len(rows))]), rows.sum(axis=0), (rows**2).sum(axis=0)]
    return np.concatenate(parts)


def row_weights(y: np.ndarray, class_weight: str | None,
                class_counts: tuple[int, int] | None = None) -> np.ndarray:
    """Per-row weights: ones, or 'balanced' (n / (2 n_class)) from these rows' own class
    counts, or from `class_counts` (negatives, positives) when given: an edge uploading in
    batches weights each batch by all the rows it has seen so far."""
    if class_weight is None:
        return np.ones(y.shape[0])
    if class_weight != "balanced":
        raise SchemaError(f"class_weight must be None or 'balanced', not {class_weight!r}")
    if class_counts is None:
        positives, total = float(y.sum()), float(y.size)
    else:
        positives, total = float(class_counts[1]), float(class_counts[0] + class_counts[1])
    if positives <= 0.0 or positives >= total:
        raise SchemaError("balanced class weights need both classes among the rows")
    return np.asarray(np.where(y == 1, total / (2 * positives),
                               total / (2 * (total - positives))))
