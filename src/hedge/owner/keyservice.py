"""The owner's key service: policy-checked, audited refresh of masked model vectors.

The cloud sends Enc(w + r) (r: a uniform mask it keeps, see `hedge.ml.refresh`); the service
decrypts it *internally*, tiles the values in the job's `RowLayout` and encrypts them afresh at
the top level. Nothing decrypted leaves the service: the result is a ciphertext again, and the
audit log records only lengths, counts and reasons.

Policy: only registered jobs, only vectors of the registered length, at most `max_refreshes`
refreshes per job (a cancelled job: none more). Every refresh and every refusal is appended to
the audit log before the call returns; registrations, counts and cancellations are rebuilt
from the log when the service restarts, so a restart does not reset a budget.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from typing import NoReturn

import numpy as np

from hedge.ckks import EncryptedVector, KeySet, PublicBundle
from hedge.errors import CorruptDataError, KeyMismatchError, ParameterError, PolicyError
from hedge.ml.layout import RowLayout
from hedge.owner.audit import AuditEntry, AuditLog
from hedge.protocol import JOB_ID_PATTERN

__all__ = ["InProcessRefreshClient", "Job", "KeyService"]
_JOB_ID = re.compile(JOB_ID_PATTERN)


@dataclass
class Job:
    """A registered job: the vector length the cloud sends, the layout columns the result is
    tiled in, and the refresh budget."""

    job_id: str
    length: int
    columns: int
    max_refreshes: int
    used: int = 0

    @property
    def left(self) -> int:
        return self.max_refreshes - self.used


def _positive_int(name: str, value: object) -> int:
    if type(value) is not int or value < 1:
        raise ParameterError(f"{name} must be a positive integer, got {value!r}")
    return value


def _encrypt_top_level(bundle: PublicBundle, values: np.ndarray) -> EncryptedVector:
    """A fresh top-level encryption of `values` (at most `slot_count` of them): what
    `PublicBundle.encrypt` does, without its check against the preset's *last-level* bound.

    That bound (|x| < 128 for 'fast') would refuse masked values, which reach MASK_RANGE = 2^14;
    a top-level ciphertext holds them with room to spare, and the cloud subtracts the mask at
    the top level. A decryption at a lower level never exceeds what the top level can encode,
    so this cannot fail, and the service's answer never depends on the decrypted values (no
    branch on them: the service is no decryption oracle)."""
    return bundle.encrypt(values, check_range=False)


class KeyService:
    """Refresh masked vectors for registered jobs, under a budget, with an audit trail.

    Holds the secret key set; run it on the owner's machine only. Thread-safe (calls are
    serialised; SEAL holds the GIL anyway)."""

    def __init__(self, keys: KeySet, audit: AuditLog) -> None:
        self.keys = keys
        self.audit = audit
        self._bundle = keys.public()
        self._slots = keys.params.slot_count
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()
        for entry in audit.entries():
            self._replay(entry)
        audit.append("start", None, {"fingerprint": keys.fingerprint,
                                     "preset": keys.params.name,
                                     "jobs": len(self._jobs)})

    def __repr__(self) -> str:
        return f"KeyService(fingerprint={self.keys.fingerprint[:12]}…, jobs={len(self._jobs)})"

    def _replay(self, entry: AuditEntry) -> None:
        d = entry.details
        if entry.event == "register" and entry.job is not None:
            try:
                self._jobs[entry.job] = Job(entry.job, int(d["length"]), int(d["columns"]),
                                            int(d["max_refreshes"]))
            except (KeyError, TypeError, ValueError) as exc:
                raise CorruptDataError(f"audit entry {entry.seq} is not a valid registration: "
                                       f"{exc}") from exc
        elif entry.event == "refresh" and entry.job in self._jobs:
            self._jobs[entry.job].used += 1
        elif entry.event == "cancel" and entry.job in self._jobs:
            job = self._jobs[entry.job]
            job.max_refreshes = job.used

    def job(self, job_id: str) -> Job | None:
        """A copy of a registered job's state (None if unknown)."""
        with self._lock:
            job = self._jobs.get(job_id)
            return None if job is None else Job(**vars(job))

    def register_job(self, job_id: str, length: int, columns: int, max_refreshes: int) -> None:
        """Allow `max_refreshes` refreshes of vectors of `length` values for `job_id`, returned
        tiled in `RowLayout(columns, slot_count)` (`hedge.ml.refresh.refresh_tiled` sends
        length == columns). A registered id is refused with `PolicyError` (audited)."""
        if not isinstance(job_id, str) or not _JOB_ID.match(job_id):
            raise ParameterError(f"job id {job_id!r} is not allowed; use 1-128 letters, digits "
                                 "and ._:- starting with a letter or digit")
        length = _positive_int("length", length)
        columns = _positive_int("columns", columns)
        max_refreshes = _positive_int("max_refreshes", max_refreshes)
        try:
            RowLayout(columns, self._slots)
        except ValueError as exc:
            raise ParameterError(f"columns: {exc}") from exc
        if length > columns:
            raise ParameterError(f"length {length} exceeds the {columns} columns of the layout "
                                 "the refreshed values are tiled in")
        with self._lock:
            if job_id in self._jobs:
                self._refuse("register", job_id, f"job {job_id!r} is already registered; "
                                                 "register each job once under a new id")
            self.audit.append("register", job_id, {"length": length, "columns": columns,
                                                   "max_refreshes": max_refreshes})
            self._jobs[job_id] = Job(job_id, length, columns, max_refreshes)

    def cancel_job(self, job_id: str) -> Job:
        """End a job's budget where it stands (audited), e.g. when the cloud refused the job it
        was registered for; its state afterwards. `PolicyError` (audited) for an unknown job."""
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None:
                shown = str(job_id)[:128]
                self._refuse("cancel", shown, f"job {shown!r} is not registered")
            self.audit.append("cancel", job_id, {"used": job.used,
                                                 "max_refreshes": job.max_refreshes})
            job.max_refreshes = job.used
            return Job(**vars(job))

    def refresh(self, job_id: str, masked: bytes) -> bytes:
        """Decrypt a masked vector internally and return it encrypted afresh at the top level,
        tiled in the job's layout. `PolicyError` (audited) for an unknown job, a wrong length or
        a spent budget; `KeyMismatchError` / `CorruptDataError` (audited) for foreign or bad
        bytes."""
        size = len(masked)
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None:
                shown = job_id[:128]  # any string may arrive here: log a bounded one
                self._refuse("refresh", shown, f"job {shown!r} is not registered; the owner "
                                               "must register a job before it can refresh",
                             bytes=size)
            if job.used >= job.max_refreshes:
                self._refuse("refresh", job_id, f"job {job_id!r} has used all "
                                                f"{job.max_refreshes} refreshes of its budget",
                             bytes=size)
            try:
                vector = EncryptedVector.from_bytes(masked, self._bundle)
            except (KeyMismatchError, CorruptDataError) as exc:
                self.audit.append("refused", job_id, {"action": "refresh", "reason": str(exc),
                                                      "bytes": size, "error": type(exc).__name__})
                raise
            if vector.length != job.length:
                self._refuse("refresh", job_id, f"job {job_id!r} refreshes vectors of length "
                                                f"{job.length}, not {vector.length}",
                             bytes=size)
            level_in = vector.level
            values = self.keys.decrypt(vector)
            layout = RowLayout(job.columns, self._slots)
            fresh = _encrypt_top_level(self._bundle, layout.tile(values))
            out = fresh.to_bytes()
            self.audit.append("refresh", job_id, {
                "length": vector.length, "level_in": level_in, "level_out": fresh.level,
                "used": job.used + 1, "max_refreshes": job.max_refreshes,
                "bytes_in": size, "bytes_out": len(out),
            })
            job.used += 1
            return out

    def _refuse(self, action: str, job_id: str, reason: str, **details: int) -> NoReturn:
        self.audit.append("refused", job_id, {"action": action, "reason": reason, **details})
        raise PolicyError(reason)


class InProcessRefreshClient:
    """`hedge.ml.refresh.RefreshClient` calling a `KeyService` in the same process (tests,
    single-machine use)."""

    def __init__(self, service: KeyService) -> None:
        self.service = service

    def refresh(self, job_id: str, masked: bytes) -> bytes:
        return self.service.refresh(job_id, bytes(masked))
