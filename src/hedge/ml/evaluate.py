"""Encrypted evaluation: score a model on the sites' encrypted data, return encrypted aggregates.

Only the aggregate is ever decrypted (by the owner, as a release). The model is either a
plaintext `LinearModel` the owner handed over, or the still-encrypted `EncryptedLinearModel` that
training produced (its tiled weights; the dot products are then ciphertext products, and the
weights need the levels the metric consumes: refresh them through the key service first when
training used them up, see `hedge.ml.refresh.refresh_tiled`).

* `mean_squared_error` (ridge): exact. From the sites' encrypted Gram matrices G and moments
  [Z^T y, y . y]: MSE = (w^T G w - 2 w^T Z^T y + y . y) / n, two plaintext inner products.
  Depth 1; error: CKKS noise only (~1e-6 relative).
* `brier_score` (logistic): mean of (y_i - p_i)^2 = mean of sigmoid(-z_i . w)^2, row by row:
  dot products (1 level), the sigmoid as a degree-7 least-squares polynomial on [-8, 8]
  (3 levels, |error| <= 0.032 there), the square (1) and a mask of the real rows with 1/n folded
  in (1): depth 6. Error bound against the exact Brier score: BRIER_BOUND = 0.065 while every
  |z_i . w| <= 8 (|a^2 - b^2| <= e (2 + e) for |a - b| <= e, a, b in [0, 1 + e]).
* `confusion_counts` (logistic, threshold 1/2): see `hedge.ml.confusion`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hedge.ckks import EncryptedVector
from hedge.errors import KeyMismatchError, ParameterError, SchemaError, ShapeError
from hedge.ml._blocks import add_all, doubled_blocks, row_mask, row_sums
from hedge.ml.dataset import EncryptedDataset
from hedge.ml.model import EncryptedLinearModel, LinearModel
from hedge.ml.sigmoid import sigmoid_polynomial

__all__ = ["BRIER_BOUND", "BRIER_DEPTH", "Margins", "brier_score", "margins", "mean_squared_error",
           "tiled_weights"]

_DEGREE, _RANGE = 7, 8.0
_FIT_ERROR = 0.032  # measured 0.0319 on [-8, 8]; tests/ml/test_layout_sigmoid.py checks it
BRIER_BOUND = _FIT_ERROR * (2 + _FIT_ERROR)
BRIER_DEPTH = 6


def _weights(data: EncryptedDataset, model: LinearModel) -> np.ndarray:
    w = np.concatenate([[model.intercept], np.asarray(model.coef, dtype=np.float64)])
    if w.size != len(data.columns):
        raise ShapeError(f"the model has {w.size} weights, the data {len(data.columns)} columns")
    return w


def tiled_weights(data: EncryptedDataset, model: LinearModel | EncryptedLinearModel,
                  scale: float = 1.0) -> tuple[np.ndarray | EncryptedVector, float]:
    """The logistic model's weights tiled [w, w] in every row of the data's layout, and the
    factor they carry: scale * w in the clear for a `LinearModel`; for an
    `EncryptedLinearModel`, the training's encrypted tiled weights with their `tiled_scale`."""
    if model.kind != "logistic":
        raise SchemaError(f"this needs a logistic model, not a {model.kind} model")
    if isinstance(model, LinearModel):
        return data.layout.tile(scale * _weights(data, model)), scale
    if model.columns != data.columns:
        raise ShapeError(f"the model's columns {model.columns} are not the data's "
                         f"{data.columns}")
    if model.tiled is None:
        raise SchemaError("this encrypted model carries no tiled weights (a model file of an "
                          "older hedge); evaluate the released model instead, or retrain")
    if model.tiled.fingerprint != data.doubled[0].fingerprint:
        raise KeyMismatchError("the model and the data are encrypted under different keys")
    return model.tiled, model.tiled_scale


def mean_squared_error(data: EncryptedDataset, model: LinearModel) -> EncryptedVector:
    """Encrypted MSE of a linear model on regression data (in the data's scaled label units)."""
    if data.task != "regression" or data.statistics is None:
        raise SchemaError("the MSE needs a regression dataset with its moments")
    w = _weights(data, model)
    n = float(data.rows)
    quadratic = data.gram.dot(np.outer(w, w).reshape(-1) / n)
    linear = data.statistics.dot(np.concatenate([-2.0 * w, [1.0]]) / n)
    return quadratic + linear


@dataclass(frozen=True)
class Margins:
    """Per doubled block, every row's margin y'_i (b + x_i . w) times `scale`, the factor the
    tiled weights carried, in the row's slots. Metrics that need the same factor can share
    them (`hedge.ml.evaluation`); a metric given another factor's margins refuses them."""

    blocks: list[EncryptedVector]
    scale: float

    def check(self, scale: float, metric: str) -> list[EncryptedVector]:
        """The blocks, if they carry `scale`; `ParameterError` otherwise."""
        if not np.isclose(self.scale, scale, rtol=1e-12, atol=0.0):
            raise ParameterError(f"the {metric} needs margins times {scale:g}, and these are "
                                 f"times {self.scale:g}; compute them with margins(...) of "
                                 "the same tiled weights")
        return self.blocks


def margins(data: EncryptedDataset, tiled: np.ndarray | EncryptedVector,
            scale: float) -> Margins:
    """Every row's margin times `scale` (the factor `tiled` carries, from `tiled_weights`):
    one product and the row sums, 1 level."""
    return Margins([row_sums(data.layout, block * tiled) for block, _ in doubled_blocks(data)],
                   scale)


def brier_score(data: EncryptedDataset, model: LinearModel | EncryptedLinearModel, *,
                shared: Margins | None = None) -> EncryptedVector:
    """Encrypted Brier score of a logistic model on classification data (see module doc).
    `shared`: the `margins` of the model's tiled weights, when already computed."""
    if data.task != "classification":
        raise SchemaError("the Brier score needs a classification dataset")
    layout = data.layout
    tiled, scale = tiled_weights(data, model)
    c = sigmoid_polynomial(_DEGREE, _RANGE)
    # sigmoid(-t), the probability of an error, of t = (scaled margin) / scale
    wrong = [ck * (-1) ** k / scale**k for k, ck in enumerate(c)]
    terms = []
    blocks = (shared or margins(data, tiled, scale)).check(scale, "Brier score")
    for (_, real), margin in zip(doubled_blocks(data), blocks, strict=True):
        miss = margin.polyval(wrong)
        terms.append((miss * miss) * row_mask(layout, real, 1.0 / data.rows))
    return add_all(terms).sum()
