"""One encrypted evaluation of a logistic model: its Brier score and confusion counts on
encrypted validation data, computed together by a party that holds ciphertexts only (the cloud's
evaluation job), kept as one file, released together by the owner.

The model is either the still-encrypted training result (its tiled weights refreshed with 1 / R
folded in) or a released model that its owner encrypted afresh
(`EncryptedLinearModel.encrypt`): the evaluating party never sees a weight. Depth: the confusion
counts need 8 levels of the data and of the tiled weights (the `standard` preset's whole depth,
fresh ciphertexts), the Brier score 6 (and one for its sum). Only the aggregates are ever
decrypted: the sum of squared errors and the three confusion sums. Both are released at
`confusion.RELEASE_ERROR` (their CKKS error grows with the rows summed), whose flooding noise
(about one unit) is small against sums over hundreds of rows, but would swamp a mean: the
Brier score is released as a sum and divided by the row count afterwards.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hedge.ckks import EncryptedVector, KeySet, PublicBundle, container
from hedge.errors import CorruptDataError
from hedge.ml.confusion import RELEASE_ERROR, ConfusionCounts, EncryptedConfusion, confusion_counts
from hedge.ml.dataset import EncryptedDataset
from hedge.ml.evaluate import BRIER_BOUND, brier_score, margins, tiled_weights
from hedge.ml.model import EncryptedLinearModel
from hedge.ml.sign import SignApproximation

__all__ = ["EncryptedEvaluation", "EvaluationReport", "evaluate"]

_TAG_BRIER, _TAG_SUMS = 1, 2


@dataclass(frozen=True)
class EvaluationReport:
    """Released metrics: the Brier score (within `brier_bound` of the exact one, plus release
    noise) and the confusion counts at threshold 1/2 over `rows` rows."""

    rows: int
    brier: float
    brier_bound: float
    counts: ConfusionCounts

    def as_dict(self) -> dict[str, float | None]:
        """For JSON: undefined ratios (no positives) are None."""
        c = self.counts
        values = {"rows": self.rows, "brier": self.brier, "brier_bound": self.brier_bound,
                  "tp": c.tp, "fp": c.fp, "tn": c.tn, "fn": c.fn, "accuracy": c.accuracy,
                  "precision": c.precision, "recall": c.recall}
        return {k: None if np.isnan(v) else float(v) for k, v in values.items()}


@dataclass
class EncryptedEvaluation:
    """`squared_errors`: the Brier score times the row count (a sum, see the module doc)."""

    squared_errors: EncryptedVector
    confusion: EncryptedConfusion

    def decrypt(self, keys: KeySet, *, release: bool = True) -> EvaluationReport:
        """The owner's side: release decryption (two releases of the budget, both at
        `confusion.RELEASE_ERROR`) of the squared-error sum and the three confusion sums."""
        total = (keys.release(self.squared_errors, error_bound=RELEASE_ERROR).values if release
                 else keys.decrypt(self.squared_errors))
        rows = self.confusion.rows
        return EvaluationReport(rows, float(np.asarray(total)[0]) / rows, BRIER_BOUND,
                                self.confusion.decrypt(keys, release=release))

    def to_bytes(self) -> bytes:
        c = self.confusion
        header = {"rows": c.rows, "width": c.width, "margin_bound": c.margin_bound,
                  "stages": [list(stage) for stage in c.approximation.stages],
                  "fingerprint": self.squared_errors.fingerprint}
        return container.to_bytes(container.Kind.EVALUATION, header,
                                  [(_TAG_BRIER, self.squared_errors.to_bytes()),
                                   (_TAG_SUMS, c.sums.to_bytes())])

    @classmethod
    def from_bytes(cls, raw: bytes, bundle: PublicBundle) -> EncryptedEvaluation:
        header, records = container.from_bytes(raw, container.Kind.EVALUATION)
        if [tag for tag, _ in records] != [_TAG_BRIER, _TAG_SUMS]:
            raise CorruptDataError("an evaluation holds squared errors, then confusion sums")
        try:
            f = header.fields
            rows, width, bound = int(f["rows"]), int(f["width"]), float(f["margin_bound"])
            stages = tuple(tuple(float(c) for c in stage) for stage in f["stages"])
        except (KeyError, TypeError, ValueError) as exc:
            raise CorruptDataError(f"the evaluation header is malformed: {exc}") from exc
        if rows < 1 or width < 2 or not (np.isfinite(bound) and bound > 0) or not stages:
            raise CorruptDataError("the evaluation header holds impossible values")
        sums = EncryptedVector.from_bytes(records[1][1], bundle)
        if sums.length != width + 1:
            raise CorruptDataError("the confusion sums do not match the evaluation's width")
        return cls(EncryptedVector.from_bytes(records[0][1], bundle),
                   EncryptedConfusion(sums, rows, width, SignApproximation(stages), bound))


def evaluate(data: EncryptedDataset, model: EncryptedLinearModel) -> EncryptedEvaluation:
    """Brier score and confusion counts of an encrypted logistic model whose tiled weights
    carry 1 / R (`EncryptedLinearModel.encrypt`, or `refresh_tiled(..., scale=1 / R)`)."""
    shared = margins(data, *tiled_weights(data, model))  # one dot product per row for both
    return EncryptedEvaluation(brier_score(data, model, shared=shared) * float(data.rows),
                               confusion_counts(data, model, shared=shared))
