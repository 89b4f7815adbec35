"""Cloud workers: processes that claim jobs from the database and run them on ciphertexts.

A job runs as its kind says (`hedge.jobs`: training, preparation, evaluation): the worker
pools the named uploads (encrypted datasets), loads the consortium's public bundle, gives the
kind its services (blobs, progress, checkpoints, a Ray pool) and stores the result. A job
resumed after a crash continues from its last checkpoint (logistic training saves one per
iteration and ends with the same model).

Results are stored as blobs; only the owner can decrypt them. A worker never holds a secret key.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import threading
import time
from contextlib import ExitStack
from pathlib import Path

from sqlalchemy import select

from hedge.ckks import PublicBundle
from hedge.ckks.ray_pool import RayPool
from hedge.cloud.blobs import BlobStore
from hedge.cloud.db import Consortium, Database, Upload, database_url
from hedge.cloud.jobs import JobQueue, JobView
from hedge.cloud.sealing import Seal
from hedge.errors import HedgeError, JobLostError, SchemaError
from hedge.jobs import JobRun, parse_spec
from hedge.ml import EncryptedDataset

__all__ = ["HEARTBEAT_SECONDS", "Worker", "worker_main"]

log = logging.getLogger("hedge.cloud.worker")

HEARTBEAT_SECONDS = 2.0
_CACHED_UPLOADS = 256  # parsed uploads a worker keeps for the next job


class Worker:
    """One worker: `run_once` claims and runs one job; `run` loops until stopped."""

    def __init__(self, db: Database, blobs: BlobStore, *, name: str | None = None,
                 stale_after: dt.timedelta = dt.timedelta(seconds=60),
                 ray: str | None = None, seal: Seal | None = None) -> None:
        """`ray`: run the per-block work of logistic training on a Ray cluster (its address,
        or 'local' to start one); its actors load each consortium's bundle once. `seal`: the
        cloud's seal key, which opens the key service's token of assisted jobs (without it,
        they fail)."""
        self.db, self.blobs, self.queue, self.seal = db, blobs, JobQueue(db), seal
        self.ray = ray
        self._ray_pools: dict[int, RayPool] = {}
        self.name = name or f"{os.uname().nodename}:{os.getpid()}"
        self.stale_after = stale_after
        self._bundles: dict[int, PublicBundle] = {}
        self._datasets: dict[str, EncryptedDataset] = {}  # uploads are immutable: by blob
        self._unreadable: set[str] = set()

    def run(self, stop: threading.Event, poll: float = 0.2, parent: int | None = None) -> None:
        """Loop until `stop` is set, or until the process `parent` is gone (a worker started
        by `hedge cloud serve` must not outlive a killed service)."""
        while not stop.is_set() and (parent is None or os.getppid() == parent):
            try:
                busy = self.run_once() or self.prefetch()
            except Exception:  # a database hiccup, a bad upload: log it, keep serving
                log.exception("worker %s: unexpected error; continuing", self.name)
                busy = False
            if not busy:
                stop.wait(poll)

    def prefetch(self) -> bool:
        """While idle, load one public bundle or parse one upload the next job will need (a
        380 MB bundle takes seconds to load); True if it did some work."""
        with self.db.session() as s:  # ids only: this runs several times a second when idle
            consortia = list(s.scalars(select(Consortium.id)))
        for cid in consortia:
            if cid not in self._bundles:
                self._bundle(cid)
                return True
        with self.db.session() as s:
            uploads = s.execute(select(Upload.consortium_id, Upload.blob)
                                .order_by(Upload.id.desc()).limit(_CACHED_UPLOADS)).all()
        for cid, blob in uploads:
            if blob not in self._datasets and blob not in self._unreadable and len(
                    self._datasets) < _CACHED_UPLOADS:
                try:
                    self._datasets[blob] = EncryptedDataset.from_bytes(self.blobs.read(blob),
                                                                       self._bundle(cid))
                except Exception as exc:  # once, whatever it is: a job using it fails
                    self._unreadable.add(blob)  # with its own message
                    log.warning("upload %s cannot be read (%s: %s); not read again while "
                                "idle", blob[:12], type(exc).__name__, exc)
                return True
        return False

    def run_once(self) -> bool:
        """Requeue jobs of dead workers, then run one job if there is one; True if it did."""
        for job_id in self.queue.requeue_stale(self.stale_after):
            log.warning("job %d: its worker went silent; requeued", job_id)
        job = self.queue.claim(self.name)
        if job is None:
            return False
        beat = threading.Event()
        pulse = threading.Thread(target=self._pulse, args=(job.id, beat), daemon=True)
        pulse.start()
        try:
            result, seconds = self._run(job)
            self.queue.finish(job.id, self.name, result, seconds)
            log.info("job %d done", job.id)
        except JobLostError as exc:  # another worker owns it now
            log.warning("job %d: %s", job.id, exc)
        except HedgeError as exc:
            self.queue.fail(job.id, self.name, f"{type(exc).__name__}: {exc}")
            log.warning("job %d failed: %s", job.id, exc)
        except Exception as exc:  # a bug or a hiccup: another attempt now, not after a timeout
            log.exception("job %d: unexpected error", job.id)
            self.queue.give_back(job.id, self.name, f"internal error ({type(exc).__name__}: "
                                                    f"{exc}); see the worker log")
        finally:
            beat.set()
            pulse.join()
        return True

    def _pulse(self, job_id: int, stop: threading.Event) -> None:
        while not stop.wait(HEARTBEAT_SECONDS):
            try:
                self.queue.heartbeat(job_id, self.name)
            except JobLostError:
                return

    def _bundle(self, consortium_id: int) -> PublicBundle:
        if consortium_id not in self._bundles:
            with self.db.session() as s:
                row = s.get(Consortium, consortium_id)
                assert row is not None
                digest, fingerprint = row.bundle, row.fingerprint
            self._bundles[consortium_id] = PublicBundle.from_bytes(
                self.blobs.read(digest), expected_fingerprint=fingerprint)
        return self._bundles[consortium_id]

    def _dataset(self, job: JobView, bundle: PublicBundle,
                 wanted: list[int] | None) -> EncryptedDataset:
        blobs = [u.blob for u in self.db.uploads(job.consortium_id, wanted)]
        if not blobs or (wanted is not None and len(blobs) != len(set(wanted))):
            raise SchemaError("the job names uploads this consortium does not have")
        if len(self._datasets) > _CACHED_UPLOADS:
            self._datasets.clear()
        for b in blobs:
            if b not in self._datasets:
                self._datasets[b] = EncryptedDataset.from_bytes(self.blobs.read(b), bundle)
        return EncryptedDataset.concat([self._datasets[b] for b in blobs])

    def _run(self, job: JobView) -> tuple[str, float]:
        """Run a job of its registered kind (`hedge.jobs`); returns the result blob and the
        seconds spent in homomorphic computation (against which the service's own overhead is
        measured; loading inputs and saving checkpoints are the service's)."""
        spec = parse_spec(job.kind, job.spec, self.seal, job.consortium_id)
        bundle = self._bundle(job.consortium_id)
        data = self._dataset(job, bundle, spec.uploads)
        saving = [0.0]

        def checkpoint(step: int, state: bytes) -> None:
            start = time.perf_counter()
            self.queue.save_checkpoint(job.id, self.name, step, self.blobs.put(state))
            saving[0] += time.perf_counter() - start

        resume = None
        if job.checkpoint is not None:
            resume = (job.checkpoint_step, self.blobs.read(job.checkpoint))
            log.info("job %d: resuming after step %d", job.id, job.checkpoint_step)
        with ExitStack() as stack:
            compute = spec.computation(JobRun(
                job.id, job.consortium_id, bundle, data, self.blobs.read,
                lambda done: self.queue.heartbeat(job.id, self.name, done), stack, checkpoint,
                resume, lambda: self._ray_pool(job.consortium_id, bundle)))
            began = time.perf_counter()
            result = compute()
            seconds = time.perf_counter() - began - saving[0]
        return self.blobs.put(result.to_bytes()), seconds

    def _ray_pool(self, consortium_id: int, bundle: PublicBundle) -> RayPool | None:
        if self.ray is None:
            return None
        if consortium_id not in self._ray_pools:
            self._ray_pools[consortium_id] = RayPool(
                bundle, address=None if self.ray == "local" else self.ray)
        return self._ray_pools[consortium_id]

    def close(self) -> None:
        for pool in self._ray_pools.values():
            pool.close()
        self._ray_pools.clear()


def worker_main(data_dir: str, db_url: str | None, stale_seconds: float = 60.0,
                parent: int | None = None, ray: str | None = None) -> None:
    """Entry point of a worker process (`hedge cloud worker`, or started by `serve`, which
    passes its pid as `parent`)."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s worker %(message)s")
    db = Database(database_url(data_dir, db_url))
    worker = Worker(db, BlobStore(Path(data_dir) / "blobs"),
                    stale_after=dt.timedelta(seconds=stale_seconds), ray=ray,
                    seal=Seal(data_dir))
    stop = threading.Event()
    try:
        worker.run(stop, parent=parent)
    except KeyboardInterrupt:
        pass
    finally:
        worker.close()
        db.dispose()
