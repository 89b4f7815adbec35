"""The job queue in the cloud database: submit, claim, heartbeat, checkpoint, finish.

A job is claimed by one worker at a time (a conditional UPDATE: whoever flips it from `queued`
to `running` owns it). A worker that dies leaves its job `running` with an old heartbeat;
`requeue_stale` puts such jobs back (`attempts` + 1), and the next worker resumes from the job's
last encrypted checkpoint. Every state change by a worker names the worker, so a worker that was
presumed dead cannot overwrite its successor's work. A job that ends (done or failed) drops the
key service's sealed token from its spec (`hedge.cloud.sealing`): it is needed no more.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update

from hedge.cloud.db import Database, Job, _now
from hedge.errors import JobLostError
from hedge.wire.protocol import MAX_JOB_ATTEMPTS

__all__ = ["JobLostError", "JobQueue", "JobView"]


def _without_token(spec: str) -> str:
    """A stored spec (JSON) without the key service's token, for a job that has ended."""
    fields = json.loads(spec)
    reference = fields.get("key_service")
    if isinstance(reference, dict):
        reference.pop("token", None)
    return json.dumps(fields)


@dataclass(frozen=True)
class JobView:
    id: int
    consortium_id: int
    kind: str
    spec: dict[str, Any]
    status: str
    progress: int
    total: int
    message: str
    checkpoint: str | None
    checkpoint_step: int
    result: str | None
    attempts: int
    compute_seconds: float

    @classmethod
    def of(cls, job: Job) -> JobView:
        return cls(job.id, job.consortium_id, job.kind, json.loads(job.spec), job.status,
                   job.progress, job.total, job.message, job.checkpoint, job.checkpoint_step,
                   job.result, job.attempts, job.compute_seconds)


class JobQueue:
    def __init__(self, db: Database) -> None:
        self.db = db

    def submit(self, consortium_id: int, kind: str, spec: dict[str, Any], total: int) -> int:
        with self.db.session() as s:
            job = Job(consortium_id=consortium_id, kind=kind, spec=json.dumps(spec), total=total)
            s.add(job)
            s.flush()
            return job.id

    def get(self, job_id: int) -> JobView | None:
        with self.db.session() as s:
            job = s.get(Job, job_id)
            return None if job is None else JobView.of(job)

    def of_consortium(self, consortium_id: int) -> list[JobView]:
        with self.db.session() as s:
            jobs = s.scalars(select(Job).where(Job.consortium_id == consortium_id)
                             .order_by(Job.id)).all()
            return [JobView.of(j) for j in jobs]

    def claim(self, worker: str) -> JobView | None:
        """The oldest queued job, now running under `worker`; None if there is none."""
        while True:
            with self.db.session() as s:
                job_id = s.scalar(select(Job.id).where(Job.status == "queued")
                                  .order_by(Job.id).limit(1))
                if job_id is None:
                    return None
                won = s.execute(update(Job).where(Job.id == job_id, Job.status == "queued")
                                .values(status="running", worker=worker, heartbeat=_now(),
                                        attempts=Job.attempts + 1))
            if won.rowcount == 1:  # type: ignore[attr-defined]
                view = self.get(job_id)
                assert view is not None
                return view

    def _owned(self, job_id: int, owner: str, **values: Any) -> None:
        with self.db.session() as s:
            done = s.execute(update(Job).where(Job.id == job_id, Job.worker == owner,
                                               Job.status == "running")
                             .values(heartbeat=_now(), **values))
        if done.rowcount != 1:  # type: ignore[attr-defined]
            raise JobLostError(f"job {job_id} is no longer run by worker {owner}")

    def heartbeat(self, job_id: int, worker: str, progress: int | None = None) -> None:
        self._owned(job_id, worker, **({} if progress is None else {"progress": progress}))

    def save_checkpoint(self, job_id: int, worker: str, step: int, blob: str) -> None:
        self._owned(job_id, worker, checkpoint=blob, checkpoint_step=step, progress=step)

    def finish(self, job_id: int, worker: str, result: str, compute_seconds: float = 0.0,
               message: str = "") -> None:
        self._owned(job_id, worker, status="done", result=result, message=message,
                    compute_seconds=compute_seconds, spec=self._ended_spec(job_id))
        self.db.forget()

    def fail(self, job_id: int, worker: str, message: str) -> None:
        self._owned(job_id, worker, status="failed", message=message,
                    spec=self._ended_spec(job_id))
        self.db.forget()

    def _ended_spec(self, job_id: int) -> str:
        with self.db.session() as s:
            spec = s.scalar(select(Job.spec).where(Job.id == job_id))
        return _without_token(spec or "{}")

    def give_back(self, job_id: int, worker: str, message: str) -> None:
        """An unexpected error in the worker: queued again at once for another attempt, or
        failed with `message` once it has had MAX_JOB_ATTEMPTS."""
        job = self.get(job_id)
        if job is not None and job.attempts >= MAX_JOB_ATTEMPTS:
            self.fail(job_id, worker, f"{message} (after {job.attempts} attempts)")
        else:
            self._owned(job_id, worker, status="queued", worker=None, message=message)

    def requeue_stale(self, older_than: dt.timedelta) -> list[int]:
        """Running jobs whose worker has been silent for `older_than`: queued again to resume
        from their checkpoint, or failed after MAX_JOB_ATTEMPTS."""
        limit = _now() - older_than
        done, ended = [], False
        with self.db.session() as s:
            stale = s.execute(select(Job.id, Job.attempts, Job.spec).where(
                Job.status == "running", Job.heartbeat < limit)).all()
            for job_id, attempts, spec in stale:
                values: dict[str, Any] = (
                    {"status": "failed", "spec": _without_token(spec),
                     "message": f"its worker stopped {attempts} times; see the service log"}
                    if attempts >= MAX_JOB_ATTEMPTS else {"status": "queued", "worker": None})
                # only if it is still silent: a heartbeat since the select keeps the job
                changed = s.execute(update(Job).where(Job.id == job_id, Job.status == "running",
                                                      Job.heartbeat < limit).values(**values))
                if changed.rowcount == 1:  # type: ignore[attr-defined]
                    done.append(job_id)
                    ended = ended or values["status"] == "failed"
        if ended:
            self.db.forget()
        return done
