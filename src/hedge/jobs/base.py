"""What every job kind is: a spec (what the owner asks the cloud to run, validated by pydantic),
its checks when the cloud receives it, and how a worker runs it.

A kind is one subclass of `JobSpec` in a module of its own, registered in `hedge.jobs.registry`.
The cloud's API derives its tagged union of job bodies from the registry, its submission route
calls `admit` and `check_uploads`, its workers `from_stored` and `computation`; the owner builds
the spec objects it submits. No kind module imports the cloud or HTTP machinery: what a kind
may ask of the cloud is `Admission` (at submission) and `JobRun` (in a worker).
"""

# No `from __future__ import annotations`: pydantic and FastAPI read these annotations.
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar, Protocol, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from hedge.ckks import PublicBundle
from hedge.ckks.ray_pool import RayPool
from hedge.errors import ParameterError
from hedge.ml import EncryptedDataset
from hedge.wire.protocol import MAX_ID

__all__ = ["MAX_JOB_UPLOADS", "Admission", "JobRun", "JobSpec", "Result", "UploadId"]

#: Most uploads one job names.
MAX_JOB_UPLOADS = 100_000
UploadId = Annotated[int, Field(ge=1, le=MAX_ID)]


class Result(Protocol):
    """A job's result: what the worker stores as its blob (only the owner can decrypt it)."""

    def to_bytes(self) -> bytes: ...


class Admission(Protocol):
    """What a kind's checks may ask of the cloud when a job is submitted. Each method refuses
    by itself, with the HTTP status the cloud answers with."""

    def check_key_service(self, url: str) -> None:
        """403 unless this cloud's operator allows its workers to connect to `url`."""

    def seal(self, secret: str, context: str) -> str:
        """`secret` sealed under the cloud's seal key for `context` (stored, never in clear)."""

    def check_blob(self, digest: str, kind: int, what: str) -> None:
        """404 unless the blob exists; 4xx unless it is a container of `kind` under the
        consortium's key set (`what` names it in the message)."""

    def upload_features(self, upload: int) -> int:
        """The features (model columns without the intercept) of a dataset upload."""


class Opener(Protocol):
    """Opens what `JobSpec.stored` sealed (`hedge.cloud.sealing.Seal`)."""

    def unseal(self, sealed: str, context: str) -> str: ...


@dataclass
class JobRun:
    """What a worker hands a job's computation: the consortium's public bundle, the pooled
    dataset of the job's uploads, and the worker's services. `stack` is closed once the
    computation has ended (for connections it opens); `checkpoint` saves a step's state (its
    time is not counted as homomorphic computation) and `resume` is the last one saved, as
    (step, bytes); `pool` gives the worker's Ray pool for the consortium, if it has one."""

    job_id: int
    consortium_id: int
    bundle: PublicBundle
    data: EncryptedDataset
    read: Callable[[str], bytes]
    progress: Callable[[int], None]
    stack: ExitStack
    checkpoint: Callable[[int, bytes], None]
    resume: tuple[int, bytes] | None
    pool: Callable[[], RayPool | None]


class JobSpec(BaseModel):
    """A job the owner asks the cloud to run over the uploads it names (all if None, fixed
    when the job is queued). Subclasses declare ``kind: Literal["name"] = "name"``."""

    model_config = ConfigDict(extra="forbid")
    kind: str
    uploads: list[UploadId] | None = Field(
        default=None, min_length=1, max_length=MAX_JOB_UPLOADS,
        description="upload ids; all if absent (fixed when the job is queued)")

    #: The container kind of the job's result (`hedge.ml.artifact` kinds).
    result_kind: ClassVar[int]
    #: What a co-decryption of the result releases (`hedge.wire.requests.KINDS`: "model",
    #: "evaluation", "aggregate"); None: the result is never co-decrypted.
    release_kind: ClassVar[str | None] = None
    #: Whether jobs of this kind over one upload set are limited to the cloud's
    #: ``--max-evaluations`` (what they release depends on a model the owner chooses).
    repeat_limited: ClassVar[bool] = False

    def checked(self) -> Self:
        """The rules across fields, as a `ParameterError` (HTTP 400); the spec if they hold."""
        return self

    @property
    def steps(self) -> int:
        """The job's progress total (iterations; 1 for a job of one step)."""
        return 1

    def admit(self, cloud: Admission, consortium_id: int) -> dict[str, Any]:
        """Check the spec against the cloud when it is submitted, before its uploads are
        resolved; the fields to store (without ``kind``; secrets sealed)."""
        return self.model_dump(exclude={"kind"})

    def check_uploads(self, cloud: Admission, uploads: Sequence[int]) -> None:
        """Check the spec against the uploads it names (resolved, all known to the cloud)."""

    @classmethod
    def build(cls, **fields: Any) -> Self:
        """The spec of these fields, checked (what the owner submits); `ParameterError` naming
        the fields that do not hold."""
        kind = cls.model_fields["kind"].default
        try:
            return cls.model_validate({**fields, "kind": kind}).checked()
        except ValidationError as exc:
            raise ParameterError(f"a {kind} job spec is invalid: {exc}") from exc

    @classmethod
    def from_stored(cls, fields: dict[str, Any], opener: Opener | None,
                    consortium_id: int) -> Self:
        """The spec from what `admit` stored (secrets unsealed with `opener`), checked again
        by the same rules; `ParameterError` if it does not hold."""
        return cls.build(**fields)

    def computation(self, run: JobRun) -> Callable[[], Result]:
        """Load what the job needs (not counted as homomorphic computation) and return the
        computation itself, which the worker times and whose result it stores."""
        raise NotImplementedError
