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
  dot products (1 level), the sigmoid as a degree-7 least-squares polynomial on [-B, B]
  (3 levels), the square (1) and a mask of the real rows with 1/n folded in (1): depth 6.
  B = max(8, R), R the margin bound the weights carry (`margin_range`): the polynomial is
  fitted over every margin the schema allows (in t / B, where the fit is well conditioned
  whatever B), so it stays bounded (|p| <= 1.1 for every B, measured up to 10^6) on all of them
  and no row's term, nor its CKKS error, can grow beyond it. Its fit error e(B) is 0.032 for
  B = 8, 0.065 at 12, 0.18 at 24; the Brier score is within `brier_bound(R)` = e (2 + e) of
  the exact one (|a^2 - b^2| <= e (2 + e) for |a - b| <= e, a, b in [0, 1 + e]);
  BRIER_BOUND = brier_bound(8) = 0.065.
* `confusion_counts` (logistic, threshold 1/2): see `hedge.ml.confusion`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hedge.ckks import EncryptedVector
from hedge.errors import KeyMismatchError, ParameterError, SchemaError, ShapeError
from hedge.ml._blocks import add_all, doubled_blocks, row_mask, row_sums
from hedge.ml.dataset import ClassificationData, EncryptedDataset, RegressionData
from hedge.ml.model import EncryptedLinearModel, LinearModel
from hedge.ml.sigmoid import sigmoid_polynomial

__all__ = ["BRIER_BOUND", "BRIER_DEPTH", "BRIER_ROW_ERROR", "Margins", "brier_bound",
           "brier_release_error", "brier_score", "margin_range", "margins",
           "mean_squared_error", "squared_errors", "tiled_weights"]

_DEGREE, _RANGE = 7, 8.0
_FIT_ERROR = 0.032  # measured 0.0319 on [-8, 8]; tests/ml/test_layout_sigmoid.py checks it
BRIER_BOUND = _FIT_ERROR * (2 + _FIT_ERROR)
BRIER_DEPTH = 6
#: Public bound on one row's CKKS error in the released sum of squared errors (computed as a
#: sum, the polynomial bounded over every margin: `margin_range`). Worst recorded 3.3e-9 per
#: row (benchmarks/evaluation_error.py, standard preset, 1,024 to 32,768 rows, margins at the
#: decision boundary, at the bound R and up to 24 with R = 30); 2^-24 = 6e-8 leaves about 18
#: times that per row, and the floor 2^-10 far more below 16,384 rows.
BRIER_ROW_ERROR = 2.0**-24
#: The largest margin bound R an evaluation takes (`margin_range`); no model comes near it.
MAX_RANGE = 1e6
#: The floor of every release bound of an evaluation (`hedge.ml.confusion.RELEASE_ERROR`).
_FLOOR = 2.0**-10


def brier_release_error(rows: int) -> float:
    """The public bound t on the CKKS error of the released sum of squared errors over `rows`
    rows: rows * BRIER_ROW_ERROR, at least 2^-10 (the release's flooding is sized from it)."""
    return max(_FLOOR, rows * BRIER_ROW_ERROR)


def margin_range(margin_bound: float | None) -> float:
    """The range [-B, B] the Brier score's sigmoid polynomial is fitted on: B = max(8, R) for
    the margin bound R the weights carry (None: 8, a model without a stated bound).
    `ParameterError` for R beyond 10^6 (no model's: `hedge.ml.model.MAX_MARGIN` is 1,000)."""
    if margin_bound is None:
        return _RANGE
    if not (np.isfinite(margin_bound) and 0 < margin_bound <= MAX_RANGE):
        raise ParameterError(f"the margin bound must be a positive number up to "
                             f"{MAX_RANGE:g}, not {margin_bound!r}")
    return max(_RANGE, float(margin_bound))


def brier_bound(margin_bound: float | None) -> float:
    """The stated bound on the encrypted Brier score's error against the exact one, for the
    polynomial `margin_range(margin_bound)` selects (e (2 + e), e its largest fit error)."""
    bound = margin_range(margin_bound)
    if bound == _RANGE:
        return BRIER_BOUND
    t = bound * np.linspace(-1.0, 1.0, 20001)
    fit = np.polynomial.polynomial.polyval(t, sigmoid_polynomial(_DEGREE, bound))
    exact = 1.0 / (1.0 + np.exp(-np.clip(t, -700.0, 700.0)))
    error = float(np.max(np.abs(fit - exact)))
    return error * (2 + error)


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
    if not isinstance(data, RegressionData) or data.statistics is None:
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
    return squared_errors(data, model, shared=shared, weight=1.0 / data.rows)


def squared_errors(data: EncryptedDataset, model: LinearModel | EncryptedLinearModel, *,
                   shared: Margins | None = None, weight: float = 1.0) -> EncryptedVector:
    """The sum over the rows of each row's squared error (y_i - p_i)^2 times `weight`: the
    Brier score for 1 / rows. What the owner releases is the plain sum (`weight` 1): the sum
    over the ciphertexts' slots adds an absolute CKKS error of its own (about 1e-5 over a
    full ciphertext, whatever the values), which a mean multiplied back by the row count
    would multiply by it too. Depth 6, like `brier_score`."""
    if not isinstance(data, ClassificationData):
        raise SchemaError("the Brier score needs a classification dataset")
    layout = data.layout
    tiled, scale = tiled_weights(data, model)
    if isinstance(model, LinearModel):
        bound: float | None = model.margin_bound()
    else:  # the factor 1 / R the tiled weights carry, if a bound was folded in
        bound = None if model.tiled_scale == 1.0 else 1.0 / model.tiled_scale
    c = sigmoid_polynomial(_DEGREE, margin_range(bound))
    # sigmoid(-t), the probability of an error, of t = (scaled margin) / scale
    wrong = [ck * (-1) ** k / scale**k for k, ck in enumerate(c)]
    terms = []
    blocks = (shared or margins(data, tiled, scale)).check(scale, "Brier score")
    for (_, real), margin in zip(doubled_blocks(data), blocks, strict=True):
        miss = margin.polyval(wrong)
        terms.append((miss * miss) * row_mask(layout, real, weight))
    return add_all(terms).sum()
