"""Encrypted confusion counts of a logistic model (threshold 1/2) through a sign approximation.

Row i of the doubled layout holds z_i = y'_i [1, x_i] (y' = +-1), so its margin m_i = z_i . w is
positive exactly when the prediction sign(x_i . w) is right. Under encryption, per row:

* the margin, in each of the row's first `width` slots (dot product: 1 level);
* c_i = (1 + p(m_i / R)) / 2 ~ [m_i > 0], with p the composite sign approximation
  (`hedge.ml.sign_approximation`, 3 levels per stage, as many stages as the levels allow, at
  least two) and R a bound on |m_i|, folded into the weights;
* c_i times U_i, where U_i holds y'_i / 2 in slot 0 (taken from the data, one level early) and
  1/2 in slot 1 (plaintext), and y'_i in slot `width` added on top (1 level).

A sum over the rows leaves A = sum c_i y'_i, B = sum c_i and S = sum y'_i, from which the owner
derives TP = (A + B) / 2, TN = (B - A) / 2, positives (n + S) / 2, then FN and FP. Depth: 2 + the
sign stages, so at least 8: the `standard` preset's whole depth (fresh data, plaintext model or
encrypted weights at the top level).

Error bound (stated, checked in tests): row i is off by at most E(|m_i| / R) / 2, with E the
envelope of |p - sign| (`SignApproximation.envelope`), so every count is within the sum of those
(plus CKKS noise, ~1e-4 here). On `standard` (two stages) E <= 0.013 for |m_i| >= 0.2 R,
0.21 at 0.1 R, 0.54 at 0.05 R; on `deep` (five stages) E <= 0.007 from 0.005 R on. Only rows near
the decision boundary are counted fractionally, which moves counts between TP and FN, TN and FP.

R: by default the 1-norm of a plaintext model's weights, a true bound since the schema scales
every feature into [-1, 1]; 1 / R is folded into the weights before the dot product, so no power
of a raw margin is ever computed. For an encrypted model nobody knows the weights: the caller
states R and folds 1 / R in when refreshing them (`refresh_tiled(..., scale=1 / R)`). Every
|m_i| must stay within R: the first stage has a zero at t = 1.06 and the composite diverges
beyond it (p(1.1) = -1, p(1.2) = 3e4), so counts of rows beyond R are meaningless;
`EncryptedConfusion.counts` refuses sums that cannot be counts, and `error_bound` is infinite
then.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from hedge.ckks import EncryptedVector
from hedge.ckks.release import Releases
from hedge.errors import (
    CorruptDataError,
    DepthExhaustedError,
    ParameterError,
    SchemaError,
    ShapeError,
)
from hedge.ml._blocks import add_all, doubled_blocks, row_mask
from hedge.ml.dataset import ClassificationData, EncryptedDataset
from hedge.ml.metrics import Margins, margins, tiled_weights
from hedge.ml.model import EncryptedLinearModel, LinearModel
from hedge.ml.sign_approximation import SIGN_STAGE_DEPTH, SignApproximation

__all__ = ["CONFUSION_ROW_ERROR", "RELEASE_ERROR", "ConfusionCounts", "EncryptedConfusion",
           "confusion_counts", "release_error"]

#: The smallest public error bound for releasing the sums (see `EncryptedConfusion.decrypt`).
RELEASE_ERROR = 2.0**-10
#: Public bound on one row's CKKS error in each released confusion sum. Worst recorded 3.2e-9
#: per row (benchmarks/evaluation_error.py, standard preset, 1,024 to 32,768 rows, margins
#: at the decision boundary, at the bound R and between); 2^-24 = 6e-8 leaves about 18 times
#: that per row, and the floor far more below 16,384 rows.
CONFUSION_ROW_ERROR = 2.0**-24


def release_error(rows: int, approximation: SignApproximation | None = None) -> float:
    """The public bound t on the CKKS error of a released confusion sum over `rows` rows:
    rows * CONFUSION_ROW_ERROR, at least RELEASE_ERROR, for the `standard` preset's two sign
    stages; a steeper composite (more stages, e.g. `deep`'s five) amplifies a row's error by
    its `max_slope`, and the bound grows by the ratio of the slopes. The flooding noise is
    sized from it, so the release's argument (error at most t, docs/security.md) holds for
    any row count."""
    steeper = 1.0 if approximation is None else max(
        1.0, approximation.max_slope() / _standard_slope())
    return max(RELEASE_ERROR, rows * CONFUSION_ROW_ERROR * steeper)


@functools.cache
def _standard_slope() -> float:
    """The slope the per-row bound was measured at: two stages (the `standard` preset)."""
    return SignApproximation.for_levels(2 * SIGN_STAGE_DEPTH).max_slope()


@dataclass(frozen=True)
class ConfusionCounts:
    """Released counts (fractional: approximation, flooding noise) at threshold 1/2."""

    tp: float
    fp: float
    tn: float
    fn: float

    @property
    def accuracy(self) -> float:
        return (self.tp + self.tn) / (self.tp + self.fp + self.tn + self.fn)

    @property
    def recall(self) -> float:
        """TP / (TP + FN); NaN without positives."""
        return self.tp / (self.tp + self.fn) if self.tp + self.fn > 0 else float("nan")

    @property
    def precision(self) -> float:
        """TP / (TP + FP); NaN without positive predictions."""
        return self.tp / (self.tp + self.fp) if self.tp + self.fp > 0 else float("nan")


@dataclass(frozen=True)
class EncryptedConfusion:
    """Encrypted sums A (slot 0), B (slot 1) and S (slot `width`) over `rows` rows."""

    sums: EncryptedVector
    rows: int
    width: int
    approximation: SignApproximation
    margin_bound: float

    def counts(self, values: np.ndarray) -> ConfusionCounts:
        """The counts from the decrypted sums; `CorruptDataError` if they cannot be counts
        (margins beyond the stated bound, or a ciphertext that is not this computation)."""
        a, b, s = float(values[0]), float(values[1]), float(values[self.width])
        slack = 0.01 * self.rows + 5.0
        if not (-slack <= b <= self.rows + slack and abs(a) <= b + slack
                and abs(s) <= self.rows + slack):
            raise CorruptDataError(
                f"the released sums ({a:.1f}, {b:.1f}, {s:.1f}) are not counts of {self.rows} "
                "rows: some margin exceeded the stated bound, or the result was tampered with")
        tp, tn = (a + b) / 2.0, (b - a) / 2.0
        positives = (self.rows + s) / 2.0
        return ConfusionCounts(tp, self.rows - positives - tn, tn, positives - tp)

    def decrypt(self, releases: Releases) -> ConfusionCounts:
        """The owner's side: release decryption of the sums, then the counts.

        The sums add up a polynomial evaluation per row, so their CKKS error grows with the
        rows; the release states `release_error(rows, approximation)` (2^-10 up to 16,384
        rows with two sign stages, then rows * 2^-24) and floods only the three sums A, B and
        S (`released`; the other slots are dropped inside): a standard deviation of 0.43 counts
        on each per 2^-10 of the bound."""
        values = np.zeros(self.sums.length)  # only A, B and S leave the owner
        values[list(self.released)] = releases.release(
            self.sums, error_bound=release_error(self.rows, self.approximation),
            indices=self.released).values
        return self.counts(values)

    @property
    def released(self) -> tuple[int, int, int]:
        """The slots of A, B and S: the three values a release decrypts and floods."""
        return (0, 1, self.width)

    def error_bound(self, margins: np.ndarray) -> float:
        """The stated bound on every count's error, given the rows' margins y'_i (b + x_i . w)
        (known to whoever holds the plaintext: tests, the owner auditing a release); infinite
        if any margin exceeds the bound R, where the polynomial means nothing."""
        t = np.asarray(margins, dtype=np.float64) / self.margin_bound
        if np.any(np.abs(t) > 1.0):
            return float("inf")
        return float(np.sum(self.approximation.envelope(t))) / 2.0


def confusion_counts(data: EncryptedDataset, model: LinearModel | EncryptedLinearModel, *,
                     margin_bound: float | None = None,
                     shared: Margins | None = None) -> EncryptedConfusion:
    """Encrypted confusion counts of a logistic model on classification data.

    The sign polynomial takes m_i / R, so 1 / R must be in the weights before the dot product
    (powers of raw margins would overflow): free for a plaintext model; for an encrypted one,
    refresh its weights with `refresh_tiled(..., scale=1 / R)` first (`tiled_scale` = 1 / R).
    `shared`: `evaluate.margins` of the same tiled weights, when already computed (refused if
    they carry another factor)."""
    if not isinstance(data, ClassificationData):
        raise SchemaError("confusion counts need a classification dataset")
    if data.layout.width < 2:
        raise ShapeError("confusion counts need at least one feature besides the bias")
    if isinstance(model, LinearModel):
        bound = model.margin_bound() if margin_bound is None else margin_bound
    else:
        bound = 1.0 / model.tiled_scale if margin_bound is None else margin_bound
        if model.tiled_scale == 1.0 or not np.isclose(bound * model.tiled_scale, 1.0):
            raise ParameterError(
                "an encrypted model's margins need a stated bound R folded into its weights: "
                "refresh them with refresh_tiled(..., scale=1 / R) and pass margin_bound=R "
                "(or nothing)")
    if not (np.isfinite(bound) and bound > 0):
        raise ParameterError(f"margin_bound must be positive, not {margin_bound!r}")
    tiled, scale = tiled_weights(data, model, 1.0 / bound)
    level = min(v.level for v in data.doubled)
    if isinstance(tiled, EncryptedVector):
        level = min(level, tiled.level)
    if level < 2 + 2 * SIGN_STAGE_DEPTH:
        raise DepthExhaustedError("confusion counts (dot product, two sign stages, the count)",
                                  2 + 2 * SIGN_STAGE_DEPTH, level)
    approximation = SignApproximation.for_levels(level - 2)  # dot product, then c_i U_i
    layout = data.layout
    terms = []
    blocks = (shared or margins(data, tiled, scale)).check(scale, "confusion count")
    for (block, real), margin in zip(doubled_blocks(data), blocks, strict=True):
        sign = margin
        for stage in approximation.stages:
            sign = sign.polyval(list(stage))
        half = block * row_mask(layout, real, 0.5) + row_mask(layout, real, 0.5, offset=1)
        labels = block * row_mask(layout, real, 1.0, offset=layout.width)
        terms.append(half + sign * half + labels)
    total = add_all(terms)
    for step in layout.column_sum_steps():
        total = total + total.rotate(step)
    return EncryptedConfusion(total.truncated(layout.width + 1), data.rows, layout.width,
                              approximation, float(bound))
