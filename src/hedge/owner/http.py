"""HTTP face of the key service (FastAPI); its client is `hedge.wire.keyservice_client`.

Endpoints (OpenAPI at ``/docs`` and ``/openapi.json``):

* ``POST /jobs`` — register a job (JSON: job_id, length, columns, max_refreshes);
* ``GET /jobs/{job_id}`` — a job's budget;
* ``DELETE /jobs/{job_id}`` — cancel a job: no refreshes beyond those already made;
* ``POST /jobs/{job_id}/refresh`` — raw ``application/octet-stream`` body: the masked vector's
  bytes; the answer is the refreshed vector's bytes;
* ``GET /audit`` — verify the audit chain: entry count and last hash;
* ``GET /health`` — liveness (no token needed, reveals nothing).

Every other endpoint needs ``Authorization: Bearer <token>``. With ``admin_token`` set, only that
token may register and cancel jobs, so the cloud's refresh token cannot grant itself budget.
Registering a job answers the job's own token (``token``, shown once): it reaches that job's
state and refreshes only, so the cloud can be given it instead of the service's refresh token.
Every refusal is JSON ``{"detail", "error"}`` (`hedge.wire.refusals`), ``error`` naming the hedge
exception: a missing or wrong token 401, the refresh token where the admin token is needed
403, the service's `PolicyError` 403, an unknown job 404 (all `PolicyError`); a body too large
413 (`TooLargeError`); an invalid job 422 (`ParameterError`); `KeyMismatchError` 409,
`CorruptDataError` and invalid arguments 400 (the parties' one table,
`hedge.wire.protocol.HTTP_STATUS`); a failed refresh 500 (`HedgeError`); an audit log that fails
verification 500 (`CorruptDataError`); an unknown route 404 (`PolicyError`), a method a route
does not take 405 (`ParameterError`).
"""

# No `from __future__ import annotations`: FastAPI reads the endpoints' annotations, which
# refer to dependencies local to `create_app`.
import hmac
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, Request, Response, status
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from hedge import __version__
from hedge.errors import (
    CorruptDataError,
    ParameterError,
    PolicyError,
    TooLargeError,
)
from hedge.owner.keyservice import Job, KeyService
from hedge.wire.protocol import JOB_ID_PATTERN, MIN_TOKEN_LENGTH, http_status
from hedge.wire.refusals import Refusal, add_refusal_handlers, validation_message

__all__ = ["MAX_BODY_BYTES", "check_tokens", "create_app"]

#: Largest refresh body accepted (a 'deep' ciphertext is ~10 MB; tiled models use one).
MAX_BODY_BYTES = 64 * 2**20

Role = Literal["refresh", "admin"]


@dataclass(frozen=True)
class Access:
    """Who calls: the admin token, the service's refresh token (every job), or one job's own
    token (`job`: that job only)."""

    role: Literal["refresh", "admin", "job"]
    job: str | None = None

    def reaches(self, job_id: str) -> bool:
        return self.role != "job" or self.job == job_id


class JobSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    job_id: str = Field(pattern=JOB_ID_PATTERN, description="the job's id, chosen by the owner")
    length: int = Field(ge=1, description="length of the masked vectors the cloud sends")
    columns: int = Field(ge=1, description="RowLayout columns the result is tiled in")
    max_refreshes: int = Field(ge=1, description="refresh budget of the job")


class JobState(JobSpec):
    max_refreshes: int = Field(ge=0, description="refresh budget of the job (once cancelled: "
                                                 "the refreshes it used)")
    used: int = Field(description="refreshes used so far")
    token: str | None = Field(None, description="the job's own token: in the registration's "
                                                "answer only")

    @classmethod
    def of(cls, job: Job) -> "JobState":
        return cls(job_id=job.job_id, length=job.length, columns=job.columns,
                   max_refreshes=job.max_refreshes, used=job.used, token=None)


class AuditSummary(BaseModel):
    entries: int = Field(description="number of entries in the verified chain")
    last_hash: str = Field(description="hash of the last entry: record it as an anchor")


class Health(BaseModel):
    status: str


_MAX_JOB_BODY = 64 * 1024


def check_tokens(token: str | None, admin_token: str | None) -> tuple[bytes, bytes | None]:
    """The key service's refresh token and optional admin token as bytes; `ParameterError`
    if the refresh token is missing, either is shorter than MIN_TOKEN_LENGTH, or they are
    the same."""
    if token is None or len(token) < MIN_TOKEN_LENGTH:
        raise ParameterError(f"the key service needs a token of at least {MIN_TOKEN_LENGTH} "
                             "characters")
    if admin_token is None:
        return token.encode(), None
    if len(admin_token) < MIN_TOKEN_LENGTH:
        raise ParameterError(f"the admin token must have at least {MIN_TOKEN_LENGTH} "
                             "characters")
    if hmac.compare_digest(admin_token.encode(), token.encode()):
        raise ParameterError("the admin token must differ from the refresh token")
    return token.encode(), admin_token.encode()


def create_app(service: KeyService, token: str, *, admin_token: str | None = None,
               max_body_bytes: int = MAX_BODY_BYTES) -> FastAPI:
    """The key service's HTTP API. `token` authorises refreshes and audit checks (and job
    registration unless `admin_token` is given, which then alone may register jobs);
    `ParameterError` for tokens `check_tokens` refuses."""
    refresh_key, admin_key = check_tokens(token, admin_token)
    if max_body_bytes < 1:
        raise ParameterError("max_body_bytes must be positive")

    app = FastAPI(
        title="hedge key service",
        version=__version__,
        description="The owner's key service: refreshes masked, encrypted model vectors for "
                    "registered jobs under a budget and records every call in a hash-chained "
                    "audit log. It never returns decrypted values.",
    )
    bearer = HTTPBearer(auto_error=False, description="the key service token")

    def role(
        creds: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    ) -> Access:
        given = creds.credentials.encode() if creds is not None else b""
        # compare with every token (constant time), whatever matches first
        is_admin = admin_key is not None and hmac.compare_digest(given, admin_key)
        is_refresh = hmac.compare_digest(given, refresh_key)
        job = service.job_of_token(given.decode(errors="replace")) if given else None
        if is_admin or (is_refresh and admin_key is None):
            return Access("admin")
        if is_refresh:
            return Access("refresh")
        if job is not None:
            return Access("job", job)
        raise Refusal(status.HTTP_401_UNAUTHORIZED,
                      PolicyError("missing or wrong bearer token; send the key service's token "
                                  "or the job's as Authorization: Bearer <token>"),
                      headers={"WWW-Authenticate": "Bearer"})

    def admin(r: Annotated[Access, Depends(role)]) -> Access:
        if r.role != "admin":
            raise Refusal(status.HTTP_403_FORBIDDEN, PolicyError(
                "registering and cancelling jobs need the owner's admin token"))
        return r

    def service_wide(r: Annotated[Access, Depends(role)]) -> Access:
        if r.role == "job":
            raise Refusal(status.HTTP_403_FORBIDDEN, PolicyError(
                "a job's token reaches that job only; checking the audit log needs the key "
                "service's token"))
        return r

    def registered(job_id: str, access: Access) -> Job:
        job = service.job(job_id) if access.reaches(job_id) else None
        if job is None:  # another job's token learns nothing of this one, not even whether
            raise Refusal(status.HTTP_404_NOT_FOUND, PolicyError(  # it exists
                f"job {job_id[:128]!r} is not registered; the owner registers jobs (POST /jobs) "
                "before the cloud uses them"))
        return job

    add_refusal_handlers(app, http_status)

    errors: dict[int | str, dict[str, Any]] = {
        401: {"description": "missing or wrong bearer token"},
        403: {"description": "refused by the key service's policy"},
    }

    @app.get("/health", response_model=Health, tags=["service"])
    def health() -> Health:
        """Liveness check (no token needed)."""
        return Health(status="ok")

    @app.post("/jobs", status_code=status.HTTP_201_CREATED, response_model=JobState,
              tags=["jobs"], responses={**errors, 400: {"description": "invalid job"}},
              openapi_extra={"requestBody": {"required": True, "content": {
                  "application/json": {"schema": JobSpec.model_json_schema()}}}})
    async def register(request: Request, _: Annotated[Access, Depends(admin)]) -> JobState:
        """Register a job: vectors of `length` values, tiled in `columns`, `max_refreshes`
        times at most. A registered id is refused (403). The body is read only after the
        token is checked, and at most 64 KiB of it."""
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > _MAX_JOB_BODY:
                raise Refusal(status.HTTP_413_CONTENT_TOO_LARGE, TooLargeError(
                    f"the job body exceeds {_MAX_JOB_BODY} bytes; send the job's four fields "
                    "only"))
        try:
            spec = JobSpec.model_validate_json(bytes(body))
        except ValidationError as exc:
            raise Refusal(status.HTTP_422_UNPROCESSABLE_CONTENT, ParameterError(
                validation_message(exc.errors(include_url=False), "job"))) from exc
        token = service.register_job(spec.job_id, spec.length, spec.columns,
                                     spec.max_refreshes)
        return JobState(**spec.model_dump(), used=0, token=token)

    @app.get("/jobs/{job_id}", response_model=JobState, tags=["jobs"],
             responses={**errors, 404: {"description": "unknown job"}})
    def job_state(job_id: str, access: Annotated[Access, Depends(role)]) -> JobState:
        """A registered job's budget (a job's token: its own job only)."""
        return JobState.of(registered(job_id, access))

    @app.delete("/jobs/{job_id}", response_model=JobState, tags=["jobs"],
                responses={**errors, 404: {"description": "unknown job"}})
    def cancel(job_id: str, access: Annotated[Access, Depends(admin)]) -> JobState:
        """Cancel a job: its budget ends where it stands (audited). Needs the admin token."""
        registered(job_id, access)
        return JobState.of(service.cancel_job(job_id))

    @app.post(
        "/jobs/{job_id}/refresh", tags=["jobs"], response_class=Response,
        responses={
            **errors,
            200: {"content": {"application/octet-stream": {}},
                  "description": "the refreshed vector (hedge vector container)"},
            400: {"description": "foreign key set or corrupt vector bytes"},
            413: {"description": f"body larger than {max_body_bytes} bytes"},
        },
        openapi_extra={"requestBody": {"required": True, "content": {
            "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}}},
    )
    async def refresh(job_id: str, request: Request,
                      access: Annotated[Access, Depends(role)]) -> Response:
        """Refresh a masked vector (raw body: the vector's bytes) for a registered job (a job's
        token: its own job only)."""
        if not access.reaches(job_id):
            raise Refusal(status.HTTP_404_NOT_FOUND, PolicyError(
                f"job {job_id[:128]!r} is not registered; the owner registers jobs (POST /jobs) "
                "before the cloud uses them"))
        too_large = Refusal(status.HTTP_413_CONTENT_TOO_LARGE, TooLargeError(
            f"the body exceeds {max_body_bytes} bytes; send one masked vector of the job's "
            "length"))
        declared = request.headers.get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > max_body_bytes):
            raise too_large
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > max_body_bytes:
                raise too_large
        out = await run_in_threadpool(service.refresh, job_id, bytes(body))
        return Response(out, media_type="application/octet-stream")

    @app.get("/audit", response_model=AuditSummary, tags=["service"],
             responses={**errors, 500: {"description": "the audit log fails verification"}})
    def audit(_: Annotated[Access, Depends(service_wide)]) -> AuditSummary:
        """Verify the audit log's hash chain on disk."""
        try:
            count = service.audit.verify()
        except CorruptDataError as exc:
            raise Refusal(status.HTTP_500_INTERNAL_SERVER_ERROR, exc) from exc
        return AuditSummary(entries=count, last_hash=service.audit.head[1])

    return app
