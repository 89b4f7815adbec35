"""Job specs: what the owner asks the cloud to run, checked by one set of rules when the API
receives a job and again when a worker takes it from the database (which holds the spec as
JSON, without its kind)."""

# No `from __future__ import annotations`: pydantic and FastAPI read these annotations.
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, ValidationError

from hedge.cloud.db import MAX_ID
from hedge.errors import ParameterError
from hedge.ml.plan import check_features
from hedge.protocol import JOB_ID_PATTERN, MIN_TOKEN_LENGTH

__all__ = ["MAX_ID", "EvaluateSpec", "JobBody", "JobSpec", "KeyServiceRef", "PrepareSpec",
           "TrainSpec", "parse_spec"]

#: Most uploads one job names.
MAX_JOB_UPLOADS = 100_000
UploadId = Annotated[int, Field(ge=1, le=MAX_ID)]
_UPLOADS = Field(None, min_length=1, max_length=MAX_JOB_UPLOADS,
                 description="upload ids; all if absent (fixed when the job is queued)")


class KeyServiceRef(BaseModel):
    """Where the worker refreshes weights in owner-assisted training: the owner's key service,
    a job registered there for this training, and the token the key service gave the cloud."""

    model_config = ConfigDict(extra="forbid")
    url: str = Field(pattern=r"^https?://[^\s/]+(/\S*)?$", max_length=512)
    job: str = Field(pattern=JOB_ID_PATTERN)
    token: str = Field(min_length=MIN_TOKEN_LENGTH, max_length=256)


class TrainSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Literal["train"] = "train"
    model: Literal["logistic", "ridge"]
    iterations: int = Field(ge=1, le=64)
    uploads: list[UploadId] | None = _UPLOADS
    key_service: KeyServiceRef | None = Field(
        None, description="owner-assisted training (logistic): refresh through this service")
    features: int | None = Field(
        None, ge=1, le=MAX_ID,
        description="the features the owner's training plan (and so its keys) is for; uploads "
                    "with another number of model columns are refused")

    def checked(self) -> "TrainSpec":
        """The rule across fields, as a `ParameterError` (HTTP 400)."""
        if self.key_service is not None and self.model != "logistic":
            raise ParameterError("only logistic regression trains with a key service")
        return self

    def check_features(self, found: int, where: str) -> None:
        """`SchemaError` (HTTP 400) if data of `found` features (`where`: which, with its
        verb) does not fit the plan's `features`; anything fits a spec without them."""
        if self.features is not None:
            check_features(self.features, found, where)


class EvaluateSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Literal["evaluate"]
    model_blob: str = Field(pattern=r"^[0-9a-f]{64}$",
                            description="an encrypted model the owner stored (PUT .../models)")
    uploads: list[UploadId] | None = _UPLOADS


class PrepareSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Literal["prepare"]
    uploads: list[UploadId] | None = _UPLOADS


JobSpec = TrainSpec | EvaluateSpec | PrepareSpec


def _kind(body: Any) -> str | None:
    """Which spec a job body is: its ``kind`` ('train' if it names none, as `TrainSpec`
    allows), None for a body that is no object or whose kind is no string."""
    kind = body.get("kind", "train") if isinstance(body, dict) else getattr(body, "kind", None)
    return kind if isinstance(kind, str) else None


#: A job as the API receives it: validated as the spec its ``kind`` names only, so that an
#: invalid body is told what is wrong with it, not with the two other kinds too.
JobBody = Annotated[
    Annotated[TrainSpec, Tag("train")] | Annotated[EvaluateSpec, Tag("evaluate")]
    | Annotated[PrepareSpec, Tag("prepare")],
    Discriminator(_kind, custom_error_type="job_kind",
                  custom_error_message="kind must be 'train' (the default), 'evaluate' or "
                                       "'prepare'")]

_KINDS: dict[str, type[TrainSpec] | type[EvaluateSpec] | type[PrepareSpec]] = {
    "train": TrainSpec, "evaluate": EvaluateSpec, "prepare": PrepareSpec}


def parse_spec(kind: str, fields: dict[str, Any]) -> JobSpec:
    """A stored job's spec (`fields`: its JSON without the kind), or `ParameterError`."""
    if kind not in _KINDS:
        raise ParameterError(f"unknown job kind {kind!r}")
    try:
        spec = _KINDS[kind].model_validate({**fields, "kind": kind})
    except ValidationError as exc:
        raise ParameterError(f"a {kind} job spec is invalid: {exc}") from exc
    return spec.checked() if isinstance(spec, TrainSpec) else spec
