"""Encrypted evaluation: score a model on the sites' encrypted data, return encrypted aggregates.

Only the aggregate is ever decrypted (by the owner, as a release). The model's weights are
plaintext here: the owner hands the candidate model to the evaluating party.

* `mean_squared_error` (ridge): exact. From the sites' encrypted Gram matrices G and moments
  [Z^T y, y . y]: MSE = (w^T G w - 2 w^T Z^T y + y . y) / n, two plaintext inner products.
  Depth 1; error: CKKS noise only (~1e-6 relative).
* `brier_score` (logistic): mean of (y_i - p_i)^2 = mean of sigmoid(-z_i . w)^2, row by row:
  dot products (1 level), the sigmoid as a degree-7 least-squares polynomial on [-8, 8]
  (3 levels, |error| <= 0.032 there), the square (1) and a mask of the real rows with 1/n folded
  in (1): depth 6. Error bound against the exact Brier score: BRIER_BOUND = 0.065 while every
  |z_i . w| <= 8 (|a^2 - b^2| <= e (2 + e) for |a - b| <= e, a, b in [0, 1 + e]).
"""

from __future__ import annotations

import numpy as np

from hedge.ckks import EncryptedVector
from hedge.errors import SchemaError, ShapeError
from hedge.ml._blocks import add_all, row_sums
from hedge.ml.dataset import EncryptedDataset
from hedge.ml.model import LinearModel
from hedge.ml.sigmoid import sigmoid_polynomial

__all__ = ["BRIER_BOUND", "BRIER_DEPTH", "brier_score", "mean_squared_error"]

_DEGREE, _RANGE = 7, 8.0
_FIT_ERROR = 0.032  # measured 0.0319 on [-8, 8]; tests/ml/test_layout_sigmoid.py checks it
BRIER_BOUND = _FIT_ERROR * (2 + _FIT_ERROR)
BRIER_DEPTH = 6


def _weights(data: EncryptedDataset, model: LinearModel) -> np.ndarray:
    w = np.concatenate([[model.intercept], np.asarray(model.coef, dtype=np.float64)])
    if w.size != len(data.columns):
        raise ShapeError(f"the model has {w.size} weights, the data {len(data.columns)} columns")
    return w


def mean_squared_error(data: EncryptedDataset, model: LinearModel) -> EncryptedVector:
    """Encrypted MSE of a linear model on regression data (in the data's scaled label units)."""
    if data.task != "regression" or data.statistics is None:
        raise SchemaError("the MSE needs a regression dataset with its moments")
    w = _weights(data, model)
    n = float(data.rows)
    quadratic = data.gram.dot(np.outer(w, w).reshape(-1) / n)
    linear = data.statistics.dot(np.concatenate([-2.0 * w, [1.0]]) / n)
    return quadratic + linear


def brier_score(data: EncryptedDataset, model: LinearModel) -> EncryptedVector:
    """Encrypted Brier score of a logistic model on classification data (see module doc)."""
    if data.task != "classification":
        raise SchemaError("the Brier score needs a classification dataset")
    w = _weights(data, model)
    layout = data.layout
    tiled = layout.tile(w)
    c = sigmoid_polynomial(_DEGREE, _RANGE)
    wrong = [ck * (-1) ** k for k, ck in enumerate(c)]  # sigmoid(-t): probability of an error
    terms = []
    blocks = iter(data.doubled)
    for rows, count in zip(data.site_rows, data.site_blocks(), strict=True):
        for b in range(count):
            real = min(layout.rows_per_block, rows - b * layout.rows_per_block)
            mask = np.zeros(layout.slots)
            mask[: real * layout.stride : layout.stride] = 1.0 / data.rows
            dots = row_sums(layout, next(blocks) * tiled)
            miss = dots.polyval(wrong)
            terms.append((miss * miss) * mask)
    return add_all(terms).sum()
