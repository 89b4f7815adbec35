"""The owner's key service: policy-checked, audited refresh of masked model vectors.

The cloud sends Enc(w + r) (r: a uniform mask it keeps, see `hedge.ml.refresh`); the service
decrypts it *internally*, clips the values to +-`REFRESH_BOUND`, tiles them in the job's
`RowLayout` and encrypts them afresh at the top level. Nothing decrypted leaves the service:
the result is a ciphertext again, and the audit log records only lengths, counts and reasons.

No decryption oracle: whether a refresh is answered, and how, is decided before anything is
decrypted and from public facts only (the job, its budget, the bytes' structure: key set,
length, level `refresh_level`, scale). A refresh that passes is counted and audited *before*
the decryption; what follows cannot fail on any decrypted value (clipped, then encoded where
+-REFRESH_BOUND fits with room to spare), and a failure there for any other reason is audited
and answered the same way whatever was decrypted. So a malicious cloud learns from a refresh
nothing but the fresh ciphertext (IND-CPA under the public key), and every query costs budget.

Policy: only registered jobs, only vectors of the registered length at the refresh level, at
most `max_refreshes` refreshes per job (a cancelled job: none more). Every refresh and every
refusal is appended to the audit log before the call returns; registrations, counts and
cancellations are rebuilt from the log when the service restarts, so a restart does not reset
a budget.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import threading
from dataclasses import dataclass
from typing import NoReturn

import numpy as np

from hedge.audit import AuditEntry, AuditLog
from hedge.ckks import EncryptedVector, KeySet, PublicBundle
from hedge.ckks.hazmat import decrypt_exact
from hedge.errors import (
    CorruptDataError,
    HedgeError,
    KeyMismatchError,
    ParameterError,
    PolicyError,
)
from hedge.ml.layout import RowLayout
from hedge.ml.refresh import REFRESH_BOUND, refresh_level
from hedge.wire.protocol import JOB_ID_PATTERN

__all__ = ["InProcessRefreshClient", "Job", "KeyService"]
_JOB_ID = re.compile(JOB_ID_PATTERN)


@dataclass
class Job:
    """A registered job: the vector length the cloud sends, the layout columns the result is
    tiled in, the refresh budget, and the SHA-256 of the job's own token (None for a job
    registered before jobs had tokens: only the service's refresh token reaches it)."""

    job_id: str
    length: int
    columns: int
    max_refreshes: int
    used: int = 0
    token_sha256: str | None = None

    @property
    def left(self) -> int:
        return self.max_refreshes - self.used


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _positive_int(name: str, value: object) -> int:
    if type(value) is not int or value < 1:
        raise ParameterError(f"{name} must be a positive integer, got {value!r}")
    return value


def _reencrypted(bundle: PublicBundle, layout: RowLayout, values: np.ndarray) -> bytes:
    """`values` clipped to +-REFRESH_BOUND, tiled in `layout` and encrypted afresh at the top
    level, as bytes. Cannot fail on any decrypted value: NaN becomes 0, anything beyond the
    bound the bound, and the top level holds +-REFRESH_BOUND with room to spare (that is why
    the range check, sized for the last level, is skipped)."""
    bounded = np.clip(np.nan_to_num(values, nan=0.0, posinf=REFRESH_BOUND,
                                    neginf=-REFRESH_BOUND), -REFRESH_BOUND, REFRESH_BOUND)
    return bundle.encrypt(layout.tile(bounded), check_range=False).to_bytes()


class KeyService:
    """Refresh masked vectors for registered jobs, under a budget, with an audit trail.

    Holds the secret key set; run it on the owner's machine only. Thread-safe (calls are
    serialised; SEAL holds the GIL anyway)."""

    def __init__(self, keys: KeySet, audit: AuditLog) -> None:
        self.keys = keys
        self.audit = audit
        self._bundle = keys.public()
        self._slots = keys.params.slot_count
        self._level = refresh_level(keys.params)
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
                digest = d.get("token_sha256")
                self._jobs[entry.job] = Job(entry.job, int(d["length"]), int(d["columns"]),
                                            int(d["max_refreshes"]),
                                            token_sha256=None if digest is None else str(digest))
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

    def job_of_token(self, token: str) -> str | None:
        """The job whose own token `token` is, while it has refreshes left (None otherwise: a
        cancelled or spent job's token authenticates nothing, so its holder cannot even fill
        the audit log with refusals): compared by SHA-256, the service keeps no job token."""
        digest = _digest(token)
        with self._lock:
            for job in self._jobs.values():
                if job.token_sha256 is not None and hmac.compare_digest(job.token_sha256,
                                                                        digest):
                    return job.job_id if job.used < job.max_refreshes else None
        return None

    def register_job(self, job_id: str, length: int, columns: int, max_refreshes: int) -> str:
        """Allow `max_refreshes` refreshes of vectors of `length` values for `job_id`, returned
        tiled in `RowLayout(columns, slot_count)` (`hedge.ml.refresh.refresh_tiled` sends
        length == columns); the job's own token, which reaches this job only (hand it to the
        cloud for this job instead of the service's refresh token: a copy of it is worth at
        most this job's budget, nothing once the job is cancelled). Only its SHA-256 is kept
        (in the audit log). A registered id is refused with `PolicyError` (audited)."""
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
            token = secrets.token_urlsafe(32)
            digest = _digest(token)
            self.audit.append("register", job_id, {"length": length, "columns": columns,
                                                   "max_refreshes": max_refreshes,
                                                   "token_sha256": digest})
            self._jobs[job_id] = Job(job_id, length, columns, max_refreshes,
                                     token_sha256=digest)
            return token

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
        clipped to +-REFRESH_BOUND and tiled in the job's layout. Refused, audited and not
        counted, before any decryption: `PolicyError` for an unknown job, a spent budget, a
        vector of another length or not at `refresh_level`; `KeyMismatchError` /
        `CorruptDataError` for foreign or bad bytes. A refresh that passes is counted and
        audited first; a failure after the decryption (none is known) is audited as `failed`
        and raised as a `HedgeError` that names no decrypted value."""
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
            if vector.level != self._level:
                self._refuse("refresh", job_id, f"masked vectors are refreshed from level "
                                                f"{self._level} of the "
                                                f"{self.keys.params.name!r} preset, not "
                                                f"{vector.level} (hedge.ml.refresh."
                                                "refresh_level)", bytes=size)
            # counted and audited before anything is decrypted: every answer costs budget
            self.audit.append("refresh", job_id, {
                "length": vector.length, "level_in": vector.level,
                "level_out": self.keys.params.depth, "used": job.used + 1,
                "max_refreshes": job.max_refreshes, "bytes_in": size,
            })
            job.used += 1
            try:
                return _reencrypted(self._bundle, RowLayout(job.columns, self._slots),
                                    decrypt_exact(self.keys, vector))
            except Exception as exc:
                # one answer whatever was decrypted; the kind of failure goes to the audit only
                self.audit.append("failed", job_id, {"action": "refresh",
                                                     "error": type(exc).__name__})
                raise HedgeError(f"the key service failed to refresh for job {job_id!r} "
                                 "(audited; the refresh is counted)") from None

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
