"""One encrypted evaluation of a logistic model: its Brier score and confusion counts on
encrypted validation data, computed together by a party that holds ciphertexts only (the cloud's
evaluation job), kept as one file, released together by the owner.

The model is either the still-encrypted training result (its tiled weights refreshed with 1 / R
folded in) or a released model that its owner encrypted afresh
(`EncryptedLinearModel.encrypt`): the evaluating party never sees a weight. Depth: the confusion
counts need 8 levels of the data and of the tiled weights (the `standard` preset's whole depth,
fresh ciphertexts), the Brier score 6 (and one for its sum). Only the aggregates are ever
decrypted: the sum of squared errors and the three confusion sums. Their CKKS error grows with
the rows summed, so each is released at a public bound derived from the row count
(`evaluate.brier_release_error`, `confusion.release_error`), and the report states the
flooding noise that puts on the Brier score and on each count. The noise (about one unit per
2^-10 of the bound) is small against sums over hundreds of rows, but would swamp a mean: the
Brier score is released as a sum and divided by the row count afterwards.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hedge.ckks import EncryptedVector, PublicBundle, container
from hedge.ckks.release import Releases
from hedge.errors import CorruptDataError
from hedge.ml.artifact import ArtifactFormat, ArtifactKind, Role
from hedge.ml.confusion import ConfusionCounts, EncryptedConfusion, confusion_counts, release_error
from hedge.ml.dataset import EncryptedDataset
from hedge.ml.metrics import (
    MAX_RANGE,
    brier_bound,
    brier_release_error,
    margin_range,
    margins,
    squared_errors,
    tiled_weights,
)
from hedge.ml.model import EncryptedLinearModel, LinearModel
from hedge.ml.sigmoid import sigmoid_polynomial
from hedge.ml.sign_approximation import SignApproximation

__all__ = ["EncryptedEvaluation", "EvaluationReport", "evaluate", "reference_sums"]

#: Evaluation files: the squared-error sum, then the confusion sums.
EVALUATION_FILE = ArtifactFormat(
    ArtifactKind.EVALUATION, "evaluation", (Role(1, "squared_errors"), Role(2, "sums")),
    "this evaluation was computed under another key set; use the bundle it was made with",
    unnamed_legacy=True)


@dataclass(frozen=True)
class EvaluationReport:
    """Released metrics: the Brier score (within `brier_bound` of the exact one, plus release
    noise of standard deviation `brier_noise`) and the confusion counts at threshold 1/2 over
    `rows` rows (each released sum with noise of standard deviation `count_noise`: TP and TN
    are half a sum of two, FP and FN of three; 0 for a decryption that is no release)."""

    rows: int
    brier: float
    brier_bound: float
    counts: ConfusionCounts
    brier_noise: float = 0.0
    count_noise: float = 0.0

    def as_dict(self) -> dict[str, float | None]:
        """For JSON: undefined ratios (no positives) are None."""
        c = self.counts
        values = {"rows": self.rows, "brier": self.brier, "brier_bound": self.brier_bound,
                  "brier_noise": self.brier_noise, "count_noise": self.count_noise,
                  "tp": c.tp, "fp": c.fp, "tn": c.tn, "fn": c.fn, "accuracy": c.accuracy,
                  "precision": c.precision, "recall": c.recall}
        return {k: None if np.isnan(v) else float(v) for k, v in values.items()}


@dataclass
class EncryptedEvaluation:
    """`squared_errors`: the Brier score times the row count (a sum, see the module doc)."""

    squared_errors: EncryptedVector
    confusion: EncryptedConfusion

    def decrypt(self, releases: Releases) -> EvaluationReport:
        """The owner's side: release decryption (two releases of the budget, at the bounds
        the row count gives: `brier_release_error`, `confusion.release_error`) of the
        squared-error sum and the three confusion sums."""
        c, rows = self.confusion, self.confusion.rows
        total = releases.release(self.squared_errors, error_bound=brier_release_error(rows))
        count_noise = releases.noise_sigma(release_error(rows, c.approximation),
                                           len(c.released))
        return EvaluationReport(rows, float(total.values[0]) / rows,
                                brier_bound(c.margin_bound), c.decrypt(releases),
                                total.noise_sigma / rows, count_noise)

    def to_bytes(self) -> bytes:
        c = self.confusion
        header = {"rows": c.rows, "width": c.width, "margin_bound": c.margin_bound,
                  "stages": [list(stage) for stage in c.approximation.stages]}
        return EVALUATION_FILE.write(header, {"squared_errors": [self.squared_errors],
                                              "sums": [c.sums]})

    @classmethod
    def from_bytes(cls, raw: bytes, bundle: PublicBundle) -> EncryptedEvaluation:
        """Parse and check an evaluation file: `KeyMismatchError` for another key set's,
        `CorruptDataError` naming the field for anything malformed. Header (exact JSON types,
        checked before any ciphertext): `rows` an integer in [1, 2^40], `width` in [2, slots],
        `margin_bound` a positive number up to `hedge.ml.metrics.MAX_RANGE`, `stages` 1 to 16
        lists of 1 to 64 finite numbers. Vectors (`EVALUATION_FILE`): the squared errors, then
        the `width` + 1 confusion sums."""
        reader = EVALUATION_FILE.open(raw, bundle)
        f = reader.fields
        rows = f.integer("rows", 1, container.MAX_LENGTH)
        width = f.integer("width", 2, bundle.params.slot_count)
        bound = f.number("margin_bound", 0.0, MAX_RANGE, open_low=True)
        stages = tuple(tuple(stage) for stage in f.number_rows("stages", max_rows=16,
                                                                items=(1, 64)))
        vectors = reader.vectors({"squared_errors": 1, "sums": 1})
        sums = vectors["sums"][0]
        if sums.length != width + 1:
            raise CorruptDataError("the confusion sums do not match the evaluation's width")
        return cls(vectors["squared_errors"][0],
                   EncryptedConfusion(sums, rows, width, SignApproximation(stages), bound))


def evaluate(data: EncryptedDataset, model: EncryptedLinearModel) -> EncryptedEvaluation:
    """Brier score and confusion counts of an encrypted logistic model whose tiled weights
    carry 1 / R (`EncryptedLinearModel.encrypt`, or `refresh_tiled(..., scale=1 / R)`)."""
    shared = margins(data, *tiled_weights(data, model))  # one dot product per row for both
    return EncryptedEvaluation(squared_errors(data, model, shared=shared),
                               confusion_counts(data, model, shared=shared))


def reference_sums(x: np.ndarray, y: np.ndarray, model: LinearModel,
                   approximation: SignApproximation) -> np.ndarray:
    """The plaintext twin of `evaluate` with `EncryptedLinearModel.encrypt(model)`: the four
    sums it releases, [squared errors, A, B, S], computed in float64 with the same polynomials
    (the sigmoid's on `margin_range(R)`, the sign's `approximation`) on scaled rows `x` and
    0/1 labels `y`. The encrypted sums equal these up to CKKS error, which is what the
    release bounds must cover (tests, benchmarks/evaluation_error.py)."""
    sign = 2.0 * np.asarray(y, dtype=np.float64) - 1.0
    margin = sign * model.decision_function(x)
    bound = model.margin_bound()
    c = (1.0 + approximation(margin / bound)) / 2.0
    miss = np.polynomial.polynomial.polyval(-margin, sigmoid_polynomial(7, margin_range(bound)))
    return np.array([np.sum(miss**2), np.sum(sign * c), np.sum(c), np.sum(sign)])
