"""Training jobs (`kind="train"`): logistic or ridge regression fitted on the pooled encrypted
uploads with the consortium's public bundle; owner-assisted logistic training refreshes the
weights through the owner's key service. The result is an encrypted model.

`train` is the one way hedge trains on encrypted data: the cloud's workers run it for a job,
and `hedge train` for datasets on disk.
"""

# No `from __future__ import annotations`: pydantic reads these annotations.
from collections.abc import Callable, Sequence
from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field

from hedge.ckks import CkksPool, EncryptedVector
from hedge.ckks.ray_pool import RayPool
from hedge.cloud.sealing import SEALED_PREFIX
from hedge.errors import ParameterError, PolicyError, SchemaError
from hedge.jobs.base import Admission, JobRun, JobSpec, Opener, Result
from hedge.ml import (
    EncryptedDataset,
    EncryptedLinearModel,
    EncryptedLogisticRegression,
    EncryptedRidge,
)
from hedge.ml.artifact import ArtifactKind
from hedge.ml.plan import check_features
from hedge.ml.refresh import refresh_tiled
from hedge.wire.keyservice_client import HttpRefreshClient
from hedge.wire.protocol import JOB_ID_PATTERN, MAX_ID, MIN_TOKEN_LENGTH

__all__ = ["KeyServiceRef", "TrainSpec", "assisted_refresh", "train"]

Refresh = Callable[[EncryptedVector], EncryptedVector]


class KeyServiceRef(BaseModel):
    """Where the worker refreshes weights in owner-assisted training: the owner's key service,
    a job registered there for this training, and the token the key service gave that job."""

    model_config = ConfigDict(extra="forbid")
    url: str = Field(pattern=r"^https?://[^\s/]+(/\S*)?$", max_length=512)
    job: str = Field(pattern=JOB_ID_PATTERN)
    token: str = Field(min_length=MIN_TOKEN_LENGTH, max_length=256)


class TrainSpec(JobSpec):
    """Train `model` for `iterations` on the uploads; with `key_service`, owner-assisted
    (logistic only). `features`: the features the owner's plan (and so its keys) is for."""

    kind: Literal["train"] = "train"
    model: Literal["logistic", "ridge"]
    iterations: int = Field(ge=1, le=64)
    key_service: KeyServiceRef | None = Field(
        default=None,
        description="owner-assisted training (logistic): refresh through this service")
    features: int | None = Field(
        default=None, ge=1, le=MAX_ID,
        description="the features the owner's training plan (and so its keys) is for; uploads "
                    "with another number of model columns are refused")

    result_kind = ArtifactKind.MODEL

    release_kind = "model"

    def checked(self) -> Self:
        if self.key_service is not None and self.model != "logistic":
            raise ParameterError("only logistic regression trains with a key service")
        return self

    @property
    def steps(self) -> int:
        return self.iterations

    def check_features(self, found: int, where: str) -> None:
        """`SchemaError` (HTTP 400) if data of `found` features (`where`: which, with its
        verb) does not fit the plan's `features`; anything fits a spec without them."""
        if self.features is not None:
            check_features(self.features, found, where)

    def admit(self, cloud: Admission, consortium_id: int) -> dict[str, Any]:
        """The key service must be one the cloud connects to; its token is stored sealed."""
        self.checked()
        fields = super().admit(cloud, consortium_id)
        ref = self.key_service
        if ref is not None:
            cloud.check_key_service(ref.url)
            fields["key_service"]["token"] = cloud.seal(ref.token, f"{consortium_id}:{ref.job}")
        return fields

    def check_uploads(self, cloud: Admission, uploads: Sequence[int]) -> None:
        """Where the owner's plan first meets the schema: every upload has its features."""
        for upload in uploads:
            self.check_features(cloud.upload_features(upload), f"upload {upload} has")

    @classmethod
    def from_stored(cls, fields: dict[str, Any], opener: Opener | None,
                    consortium_id: int) -> Self:
        ref = fields.get("key_service")
        if isinstance(ref, dict) and str(ref.get("token", "")).startswith(SEALED_PREFIX):
            if opener is None:
                raise PolicyError("this worker holds no seal key to open the job's "
                                  "key-service token; start it with the cloud's --data-dir")
            token = opener.unseal(str(ref["token"]), f"{consortium_id}:{ref.get('job')}")
            fields = {**fields, "key_service": {**ref, "token": token}}
        return super().from_stored(fields, opener, consortium_id)

    def computation(self, run: JobRun) -> Callable[[], Result]:
        """Logistic training saves its encrypted tiled weights after every iteration and
        resumes from the last saved one (ending with the same model); ridge restarts (a few
        iterations)."""
        self.check_features(run.data.features, "the job's uploads have")
        resume = None
        if run.resume is not None and self.model == "logistic":
            step, raw = run.resume
            resume = (step, EncryptedVector.from_bytes(raw, run.bundle))
        refresh = None
        if self.key_service is not None:  # the key service's job is checked first
            ref = self.key_service
            client = run.stack.enter_context(HttpRefreshClient(ref.url, ref.token))
            refresh = assisted_refresh(client, ref.job, run.data)
        pool = run.pool() if self.model == "logistic" else None

        def checkpoint(step: int, w: EncryptedVector) -> None:
            run.checkpoint(step, w.to_bytes())

        return lambda: train(run.data, self.model, self.iterations, refresh=refresh,
                             pool=pool, progress=run.progress, checkpoint=checkpoint,
                             resume=resume)


def assisted_refresh(client: HttpRefreshClient, job: str, data: EncryptedDataset) -> Refresh:
    """Refreshes of `data`'s weights through the owner's key service job `job`, checked first
    (`ParameterError` if it is registered for another number of weights: fail now, not after
    the first costly iteration)."""
    if client.job(job).get("length") != len(data.columns):  # its value is not repeated
        raise ParameterError(f"key service job {job!r} is registered for another number of "
                             f"weights than the data's {len(data.columns)}")
    return lambda w: refresh_tiled(client, job, w, data.layout)


def train(data: EncryptedDataset, model: str, iterations: int, *,
          refresh: Refresh | None = None, pool: CkksPool | RayPool | None = None,
          progress: Callable[[int], None] | None = None,
          checkpoint: Callable[[int, EncryptedVector], None] | None = None,
          resume: tuple[int, EncryptedVector] | None = None) -> EncryptedLinearModel:
    """Fit `model` on the pooled encrypted `data` (no secret key involved). `refresh`: owner-
    assisted (logistic only); `pool`: the per-block work in worker processes or on Ray (same
    result); `checkpoint` and `resume` as `EncryptedLogisticRegression.fit` takes them.
    `SchemaError` if the data's task does not fit the model (`model`: 'logistic' or 'ridge',
    `ParameterError` for another)."""
    if model not in ("logistic", "ridge"):
        raise ParameterError(f"hedge trains 'logistic' or 'ridge' models, not {model!r}")
    expected = "regression" if model == "ridge" else "classification"
    if data.task != expected:
        raise SchemaError(f"{model} regression is for {expected}, the data for {data.task}; "
                          "encrypt with a schema whose label fits the model kind")
    if model == "ridge":
        if refresh is not None:
            raise ParameterError("ridge trains without refresh; drop --mode assisted")
        return EncryptedRidge(iterations=iterations).fit(data, progress=progress)
    return EncryptedLogisticRegression(iterations=iterations).fit(
        data, refresh=refresh, progress=progress, pool=pool, checkpoint=checkpoint,
        resume=resume)
