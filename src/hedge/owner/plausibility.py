"""What the owner checks of a job's result before releasing it: that it is what the job it
queued can have computed. The cloud computes the ciphertexts the owner decrypts; a result of
another kind, shape, depth or size than the job's, or of implausible values once decrypted,
is refused (`PolicyError`, audited by the caller) before any value leaves the owner.

Before decryption, from the ciphertexts' structure:

* the job is one this owner queued, of the kind being released (a model from a training, an
  evaluation from an evaluation, statistics from a preparation);
* a model has the plan's columns and the job's kind (logistic or ridge), and its weights sit at
  the level the estimator's schedule leaves them (`weights_level`): a vector cut from an upload,
  or computed by another schedule, sits elsewhere;
* an evaluation counts the rows of the uploads the job named.

After decryption, before anything leaves: a model's weights are finite and its margin bound
within `hedge.ml.model.MAX_MARGIN` (`LinearModel.check_plausible`); statistics count the job's
rows (within the release noise) and their means and spreads lie in the range the schema scales
features into.

What remains (docs/security.md): a cloud that forges a result on purpose can match every one of
these (burn levels, choose values of a plausible size), e.g. return one row of an upload shaped
as a model; the checks catch mistakes, results of other jobs and naive forgeries, not a
malicious cloud. Verifiable computation is outside hedge.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from hedge.errors import PolicyError
from hedge.ml import EncryptedLinearModel, EncryptedLogisticRegression, EncryptedRidge
from hedge.ml.evaluation import EncryptedEvaluation
from hedge.ml.plan import TrainingPlan

__all__ = ["check_evaluation", "check_model", "check_statistics_counts", "job_record"]

#: How far released means and spreads may lie outside [-1, 1] (flooding noise over a class of
#: at least the minimum rows).
_RANGE_SLACK = 0.25


def job_record(jobs: dict[str, Any], job_id: int, kind: str) -> dict[str, Any]:
    """The owner's record of job `job_id` (`OwnerWorkspace` keeps one per job it queues), or
    `PolicyError` if this owner did not queue it, or queued a job of another kind."""
    record = jobs.get(str(job_id))
    if not isinstance(record, dict):
        raise PolicyError(f"job {job_id} was not queued from this owner directory; release "
                          "only results of jobs you queued (`hedge owner status` lists them)")
    if record.get("kind") != kind:
        raise PolicyError(f"job {job_id} is a {record.get('kind')} job, not a {kind} job; "
                          "release it with the command for its kind")
    return record


def check_model(model: EncryptedLinearModel, record: dict[str, Any], plan: TrainingPlan,
                top: int) -> None:
    """`PolicyError` unless the encrypted model is what the training `record` describes:
    its kind, the plan's columns, and the level its estimator leaves the weights at (data at
    level `top`)."""
    if model.kind != record.get("model"):
        raise PolicyError(f"the result is a {model.kind} model, the job trained "
                          f"{record.get('model')}: not the job's result; not released")
    if len(model.columns) != plan.features + 1:
        raise PolicyError(f"the result has {len(model.columns) - 1} features, the plan "
                          f"{plan.features}: not the job's result; not released")
    iterations = int(record["iterations"])
    if model.kind == "logistic":
        expected = {EncryptedLogisticRegression(iterations=iterations).weights_level(
            top, refreshed=bool(record.get("assisted")))}
    else:  # one upload: its own solution; several: the iteration (the owner does not see
        ridge = EncryptedRidge(iterations=iterations)  # how many sites an upload holds)
        expected = {ridge.weights_level(top, 1), ridge.weights_level(top, 2)}
    if model.weights.level not in expected:
        raise PolicyError(f"the result's weights are at level {model.weights.level}, where "
                          f"this training leaves them at level {min(expected)}: not computed "
                          "as the job says; not released")
    if model.tiled is not None and model.tiled.level != model.weights.level + 1:
        raise PolicyError("the result's tiled weights are not those its weights were cut "
                          "from; not released")


def check_evaluation(evaluation: EncryptedEvaluation, record: dict[str, Any]) -> None:
    """`PolicyError` unless the evaluation counts the rows of the uploads the job named and
    carries the margin bound R the owner encrypted the model with."""
    rows = int(record.get("rows", evaluation.confusion.rows))
    if evaluation.confusion.rows != rows:
        raise PolicyError(f"the evaluation counts {evaluation.confusion.rows} rows, the job's "
                          f"uploads hold {rows}: not the job's result; not released")
    bound = float(record.get("margin_bound", evaluation.confusion.margin_bound))
    if not np.isclose(evaluation.confusion.margin_bound, bound, rtol=1e-9, atol=0.0):
        raise PolicyError(f"the evaluation states the margin bound "
                          f"{evaluation.confusion.margin_bound:.6g}, the model was encrypted "
                          f"with {bound:.6g}: not the job's result; not released")


def check_statistics_counts(counts: np.ndarray, means: np.ndarray, stds: np.ndarray,
                            rows: int, noise: float) -> None:
    """`PolicyError` unless released statistics count `rows` rows in all (within six standard
    deviations of the release's flooding `noise` on each count) and their means and spreads
    lie in the scaled range [-1, 1] (a little slack for the noise)."""
    slack = 0.5 + 6.0 * noise * np.sqrt(counts.size)
    if abs(float(np.sum(counts)) - rows) > slack:
        raise PolicyError(f"the statistics count {float(np.sum(counts)):.1f} rows, the job's "
                          f"uploads hold {rows}: not the job's result (or an upload's rows are "
                          "not what it declared); not released")
    limit = 1.0 + _RANGE_SLACK
    if not (np.all(np.isfinite(means)) and np.all(np.abs(means) <= limit)
            and np.all(np.isfinite(stds)) and np.all(stds <= limit)):
        raise PolicyError("the statistics' means or spreads lie outside the range the schema "
                          "scales features into: not statistics of the job's rows; not "
                          "released")
