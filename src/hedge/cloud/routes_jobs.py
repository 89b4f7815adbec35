"""Job routes of the cloud API: queue preparation (pooled statistics), training and evaluation,
follow them, fetch the encrypted results; the owner's encrypted models for evaluation.

Every job's result is decrypted by the owner, so a job is queued only if its uploads hold at
least `min_job_rows` rows, and only if its upload set differs from every earlier job's of the
consortium (queued, running or done) by none or at least `min_job_rows` rows, in all and for
each site (`hedge.cloud.differencing`): two jobs whose upload sets differ in a few rows would
give those rows' contribution by difference. A job's uploads are fixed when it is queued
(naming none means all the consortium has then)."""

# No `from __future__ import annotations`: FastAPI reads the endpoints' annotations.
import threading
from collections.abc import Callable
from typing import Annotated
from urllib.parse import unquote, urlsplit

from fastapi import Body, FastAPI, Path, Request, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from hedge.cloud.access import ConsortiumId, Who, member
from hedge.cloud.blobs import BlobStore, BlobWriter
from hedge.cloud.checks import check_container, dataset_features, no_keystore
from hedge.cloud.db import Database, Upload
from hedge.cloud.differencing import too_close, too_many_evaluations
from hedge.cloud.jobs import JobQueue, JobView
from hedge.cloud.sealing import Seal
from hedge.errors import PolicyError
from hedge.jobs import JobSpec, job_body
from hedge.ml.artifact import ArtifactKind
from hedge.wire.protocol import MAX_ID
from hedge.wire.refusals import Refusal

__all__ = ["JobInfo", "add_job_routes"]

_DEFAULT_PORTS = {"http": 80, "https": 443}


def _under(url: str, prefix: str) -> bool:
    """Whether `url` lies under the allowed `prefix`, compared parsed, not as text: the same
    scheme, host and port, no user information (`https://allowed@elsewhere/` connects to
    `elsewhere`), no dot segments (the HTTP client resolves `/ks/../admin` to `/admin`), and
    the prefix's path a whole-segment prefix of the URL's path."""
    try:
        u, p = urlsplit(url), urlsplit(prefix)
        u_port, p_port = u.port, p.port
    except ValueError:  # a bracketed host that is no address, a port that is no number
        return False
    if u.username is not None or u.password is not None or not u.hostname:
        return False
    if any(segment in (".", "..") for segment in unquote(u.path).split("/")):
        return False
    if (u.scheme, u.hostname) != (p.scheme, p.hostname):
        return False
    default = _DEFAULT_PORTS.get(u.scheme)
    if (u_port or default) != (p_port or default):
        return False
    base = p.path.rstrip("/")
    return u.path == base or u.path.startswith(base + "/")


class _Admission:
    """What a job kind's checks ask of the cloud at submission (`hedge.jobs.base.Admission`),
    for consortium `cid`."""

    def __init__(self, db: Database, blobs: BlobStore, cid: int, seal: Seal | None,
                 allowed: Callable[[str], bool]) -> None:
        self.db, self.blobs, self.cid, self._seal, self.allowed = db, blobs, cid, seal, allowed
        self.resolved: dict[int, Upload] = {}  # the job's uploads, once they are known

    def check_key_service(self, url: str) -> None:
        if not self.allowed(url):
            raise Refusal(status.HTTP_403_FORBIDDEN, PolicyError(
                f"this cloud does not connect to the key service at {url}: it "
                "connects only to key services its operator allows, with `hedge cloud "
                "serve --key-service URL-PREFIX`"))

    def seal(self, secret: str, context: str) -> str:
        assert self._seal is not None  # a cloud without one allows no key service
        return self._seal.seal(secret, context)

    def check_blob(self, digest: str, kind: int, what: str) -> None:
        path = self.blobs.path(digest)
        if not path.exists():
            raise Refusal(status.HTTP_404_NOT_FOUND, PolicyError(
                "no such model; store it first (PUT .../models)"))
        check_container(path, self.db.fingerprint(self.cid), kind, what, records=False)

    def upload_features(self, upload: int) -> int:
        return dataset_features(self.blobs.path(self.resolved[upload].blob))


class ModelStored(BaseModel):
    blob: str
    size: int


class JobInfo(BaseModel):
    id: int
    kind: str
    status: str = Field(description="queued, running, done or failed")
    progress: int
    total: int
    message: str
    attempts: int
    has_result: bool
    compute_seconds: float = Field(description="seconds the job spent in homomorphic "
                                               "computation")

    @classmethod
    def of(cls, job: JobView) -> "JobInfo":
        return cls(id=job.id, kind=job.kind, status=job.status, progress=job.progress,
                   total=job.total, message=job.message, attempts=job.attempts,
                   has_result=job.result is not None, compute_seconds=job.compute_seconds)




JobId = Annotated[int, Path(ge=1, le=MAX_ID, description="a job's id")]


def add_job_routes(app: FastAPI, db: Database, blobs: BlobStore, max_upload: int, *,
                   key_services: tuple[str, ...], min_job_rows: int,
                   seal: Seal | None, max_evaluations: int) -> None:
    """`key_services`: URL prefixes assisted-training jobs may name (the workers connect
    there, so an owner cannot point them elsewhere in the cloud's network); none: no
    assisted training. `seal`: seals the key service's token in the job's row (without one,
    no assisted training either). A job over fewer than `min_job_rows` rows, or whose upload
    set differs from an earlier job's by fewer (module doc), is refused: whatever it computes
    is decrypted by the owner (a floor against small releases by mistake; an owner can still
    pad a job with rows it uploads itself). At most `max_evaluations` evaluation jobs run over
    one upload set (models the owner chooses could otherwise read rows off the counts)."""
    queue = JobQueue(db)
    # one API process per database: a job's checks against the earlier ones and its insert
    # are not interleaved with another submission's
    submitting = threading.Lock()

    def uploads_named(cid: int, wanted: list[int] | None) -> list[Upload]:
        """The uploads a job names (None: all the consortium's); 404 for ids the consortium
        does not have."""
        found = db.uploads(cid, wanted)
        missing = sorted(set(wanted or ()) - {u.id for u in found})
        if missing:
            raise Refusal(status.HTTP_404_NOT_FOUND, PolicyError(
                f"this consortium has no uploads {missing}; list them with "
                f"GET /v1/consortia/{cid}/uploads (`hedge owner status`)"))
        return found

    def allowed(url: str) -> bool:
        return seal is not None and any(_under(url, prefix) for prefix in key_services)

    def job_of(cid: int, job_id: int) -> JobView:
        job = queue.get(job_id)
        if job is None or job.consortium_id != cid:
            raise Refusal(status.HTTP_404_NOT_FOUND, PolicyError(
                f"this consortium has no job {job_id}; list its jobs with "
                f"GET /v1/consortia/{cid}/jobs (`hedge owner status`)"))
        return job

    def submit(cid: ConsortiumId, who: Who, spec: JobSpec) -> JobInfo:
        member(who, cid, "owner")
        cloud = _Admission(db, blobs, cid, seal, allowed)
        fields = spec.admit(cloud, cid)
        uploads = uploads_named(cid, spec.uploads)
        cloud.resolved = {u.id: u for u in uploads}
        spec.check_uploads(cloud, list(cloud.resolved))
        rows = sum(u.rows for u in uploads)
        if rows < min_job_rows:
            raise Refusal(status.HTTP_403_FORBIDDEN, PolicyError(
                f"the job's uploads hold {rows} rows; this cloud runs no job over fewer than "
                f"{min_job_rows} (the owner decrypts what jobs compute): name more uploads or "
                "wait for more data"))
        fields["uploads"] = [u.id for u in uploads]  # fixed now, also for "all"
        with submitting:  # checked against the earlier jobs and queued as one step
            earlier = [j for j in queue.of_consortium(cid) if j.status != "failed"]
            close = too_close(uploads, [(j.id, j.spec.get("uploads")) for j in earlier],
                              db.uploads(cid), min_job_rows)
            if close is None and spec.repeat_limited:
                close = too_many_evaluations(fields["uploads"], earlier, max_evaluations,
                                             spec.kind)
            if close is not None:
                raise Refusal(status.HTTP_403_FORBIDDEN, PolicyError(close))
            job_id = queue.submit(cid, spec.kind, fields, total=spec.steps)
        return JobInfo.of(job_of(cid, job_id))

    # the body is validated as the registered kind it names (`hedge.jobs.registry`)
    submit.__annotations__["spec"] = Annotated[job_body(), Body()]
    app.post("/v1/consortia/{cid}/jobs", status_code=status.HTTP_201_CREATED)(submit)

    @app.put("/v1/consortia/{cid}/models", status_code=status.HTTP_201_CREATED)
    async def store_model(cid: ConsortiumId, request: Request, who: Who) -> ModelStored:
        """An encrypted model (under the consortium's key set) for an evaluation job: a
        released model the owner encrypted afresh, so the cloud scores it without learning
        it. Idempotent (content-addressed)."""
        member(who, cid, "owner")
        writer = await blobs.put_stream(no_keystore(request.stream()), max_upload)
        return await run_in_threadpool(_commit_model, cid, writer)

    def _commit_model(cid: int, writer: BlobWriter) -> ModelStored:
        with writer:
            check_container(writer.path, db.fingerprint(cid), ArtifactKind.MODEL,
                            "an encrypted model")
            return ModelStored(blob=writer.commit(), size=writer.size)

    @app.get("/v1/consortia/{cid}/jobs")
    def jobs(cid: ConsortiumId, who: Who) -> list[JobInfo]:
        member(who, cid, "owner")
        return [JobInfo.of(j) for j in queue.of_consortium(cid)]

    @app.get("/v1/consortia/{cid}/jobs/{job_id}")
    def job(cid: ConsortiumId, job_id: JobId, who: Who) -> JobInfo:
        member(who, cid, "owner")
        return JobInfo.of(job_of(cid, job_id))

    @app.get("/v1/consortia/{cid}/jobs/{job_id}/result")
    def result(cid: ConsortiumId, job_id: JobId, who: Who) -> StreamingResponse:
        member(who, cid, "owner")
        found = job_of(cid, job_id)
        if found.result is None:
            todo = (f"its message (GET /v1/consortia/{cid}/jobs/{job_id}) says why; submit "
                    "a new job" if found.status == "failed" else "wait until it is done")
            raise Refusal(status.HTTP_409_CONFLICT, PolicyError(
                f"job {job_id} is {found.status}; no result yet: {todo}"))
        return StreamingResponse(blobs.iter_chunks(found.result),
                                 media_type="application/octet-stream")

