"""Evaluation jobs (`kind="evaluate"`): an encrypted model the owner stored is scored on the
named uploads (Brier score and confusion counts, `hedge.ml.evaluation`). The cloud never sees
the model in clear; the result is an encrypted evaluation only the owner can decrypt."""

# No `from __future__ import annotations`: pydantic reads these annotations.
from collections.abc import Callable
from functools import partial
from typing import Any, Literal

from pydantic import Field

from hedge.jobs.base import Admission, JobRun, JobSpec, Result
from hedge.ml import EncryptedLinearModel
from hedge.ml.artifact import ArtifactKind
from hedge.ml.evaluation import evaluate

__all__ = ["EvaluateSpec"]


class EvaluateSpec(JobSpec):
    """Score the encrypted model `model_blob` (stored with PUT .../models) on the uploads."""

    kind: Literal["evaluate"] = "evaluate"
    model_blob: str = Field(pattern=r"^[0-9a-f]{64}$",
                            description="an encrypted model the owner stored (PUT .../models)")

    result_kind = ArtifactKind.EVALUATION

    release_kind = "evaluation"
    repeat_limited = True

    def admit(self, cloud: Admission, consortium_id: int) -> dict[str, Any]:
        """The blob store is shared: the blob must be a model under this consortium's keys
        (its records were read when it was stored)."""
        cloud.check_blob(self.model_blob, ArtifactKind.MODEL, "the evaluated blob")
        return super().admit(cloud, consortium_id)

    def computation(self, run: JobRun) -> Callable[[], Result]:
        model = EncryptedLinearModel.from_bytes(run.read(self.model_blob), run.bundle)
        return partial(evaluate, run.data, model)
