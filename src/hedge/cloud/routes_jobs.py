"""Job routes of the cloud API: queue training, follow it, fetch the encrypted result."""

# No `from __future__ import annotations`: FastAPI reads the endpoints' annotations.
from typing import Literal

from fastapi import FastAPI, HTTPException, status
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from hedge.cloud.access import Who, member
from hedge.cloud.blobs import BlobStore
from hedge.cloud.db import Database
from hedge.cloud.jobs import JobQueue, JobView, training_spec

__all__ = ["JobInfo", "JobSpec", "add_job_routes"]


class JobSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Literal["train"] = "train"
    model: Literal["logistic", "ridge"]
    iterations: int = Field(ge=1, le=64)
    uploads: list[int] | None = Field(None, min_length=1, description="upload ids; all if "
                                                                       "absent")


class JobInfo(BaseModel):
    id: int
    kind: str
    status: str = Field(description="queued, running, done or failed")
    progress: int
    total: int
    message: str
    attempts: int
    has_result: bool
    compute_seconds: float = Field(description="seconds the training spent in homomorphic "
                                               "computation (the estimator)")

    @classmethod
    def of(cls, job: JobView) -> "JobInfo":
        return cls(id=job.id, kind=job.kind, status=job.status, progress=job.progress,
                   total=job.total, message=job.message, attempts=job.attempts,
                   has_result=job.result is not None, compute_seconds=job.compute_seconds)




def add_job_routes(app: FastAPI, db: Database, blobs: BlobStore) -> None:
    queue = JobQueue(db)

    def job_of(cid: int, job_id: int) -> JobView:
        job = queue.get(job_id)
        if job is None or job.consortium_id != cid:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "no such job")
        return job

    @app.post("/v1/consortia/{cid}/jobs", status_code=status.HTTP_201_CREATED)
    def submit(cid: int, spec: JobSpec, who: Who) -> JobInfo:
        member(who, cid, "owner")
        checked = training_spec(spec.model_dump(exclude={"kind"}))
        job_id = queue.submit(cid, spec.kind, checked, total=spec.iterations)
        return JobInfo.of(job_of(cid, job_id))

    @app.get("/v1/consortia/{cid}/jobs")
    def jobs(cid: int, who: Who) -> list[JobInfo]:
        member(who, cid, "owner")
        return [JobInfo.of(j) for j in queue.of_consortium(cid)]

    @app.get("/v1/consortia/{cid}/jobs/{job_id}")
    def job(cid: int, job_id: int, who: Who) -> JobInfo:
        member(who, cid, "owner")
        return JobInfo.of(job_of(cid, job_id))

    @app.get("/v1/consortia/{cid}/jobs/{job_id}/result")
    def result(cid: int, job_id: int, who: Who) -> StreamingResponse:
        member(who, cid, "owner")
        found = job_of(cid, job_id)
        if found.result is None:
            raise HTTPException(status.HTTP_409_CONFLICT,
                                f"job {job_id} is {found.status}; no result yet")
        return StreamingResponse(blobs.iter_chunks(found.result),
                                 media_type="application/octet-stream")

