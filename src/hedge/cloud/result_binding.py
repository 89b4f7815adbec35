"""Whether a co-decryption request asks for what the cloud computed: the cloud's check, before
it relays a request, that the owner's signed claims are its records'
(`hedge.cloud.routes_codecrypt`).

The job a request names (``job``: the cloud job's id) must have finished in this consortium;
its kind must be what that job computes (its `JobSpec.release_kind`: a training job a model,
an evaluation an evaluation, a statistics job an aggregate); every ciphertext it names must be
one of that job's result (its SHA-256 among those of the SEAL ciphertexts in the result's
containers); and the uploads
it covers must be exactly that job's, each with its site and row count. The holders judge a
request by its coverage (`hedge.holder.policy`): with this check, an owner alone cannot
mislabel a result to pass a holder's stricter policy; an owner and a cloud together still can
(docs/security.md).
"""

from __future__ import annotations

import hashlib
import json

from fastapi import status
from sqlalchemy import select
from sqlalchemy.orm import Session

from hedge.ckks import container
from hedge.cloud.blobs import BlobStore
from hedge.cloud.db import Job, Site, Upload
from hedge.errors import PolicyError
from hedge.jobs.registry import kinds
from hedge.wire.refusals import Refusal
from hedge.wire.requests import CoDecryptionRequest

__all__ = ["check_binding", "release_kind", "result_digests"]

_MAX_DEPTH = 4


def release_kind(job_kind: str) -> str | None:
    """What a co-decryption of a `job_kind` job's result releases (its `JobSpec`'s), or None."""
    spec = kinds().get(job_kind)
    return None if spec is None else spec.release_kind


def result_digests(raw: bytes, depth: int = 0) -> set[str]:
    """The SHA-256 of every SEAL ciphertext in a result: the records of its container, and of
    the containers those hold (an artifact's vectors), `_MAX_DEPTH` deep."""
    _, records = container.from_bytes(raw, None)  # type: ignore[arg-type]
    found = set()
    for _, payload in records:
        if depth < _MAX_DEPTH and container.peek_kind(payload) is not None:
            found |= result_digests(payload, depth + 1)
        else:
            found.add(hashlib.sha256(payload).hexdigest())
    return found


def check_binding(s: Session, blobs: BlobStore, cid: int, req: CoDecryptionRequest) -> None:
    """`Refusal` (404, 409 or 403, `PolicyError`) unless `req` asks for a finished job's
    result, as the module says."""
    rid = req.request
    job = s.get(Job, int(req.job)) if req.job.isdigit() and len(req.job) <= 15 else None
    if job is None or job.consortium_id != cid:
        raise Refusal(status.HTTP_404_NOT_FOUND, PolicyError(
            f"request {rid} names job {req.job!r}, which this consortium does not have; a "
            "co-decryption releases a cloud job's result"))
    if job.status != "done" or job.result is None:
        raise Refusal(status.HTTP_409_CONFLICT, PolicyError(
            f"job {job.id} has no result yet ({job.status}); ask for its release when it is "
            "done"))
    if release_kind(job.kind) != req.kind:
        raise PolicyError(f"request {rid} calls job {job.id}'s result {req.kind!r}; the job "
                          f"computed {release_kind(job.kind) or job.kind!r}")
    if not set(req.digests) <= result_digests(blobs.read(job.result)):
        raise PolicyError(f"request {rid} names ciphertexts that are not job {job.id}'s "
                          "result; a co-decryption releases a job's result only")
    ids = json.loads(job.spec).get("uploads") or []
    sites = dict(s.execute(select(Site.id, Site.name).where(Site.consortium_id == cid)).all())
    uploads = s.scalars(select(Upload).where(Upload.id.in_(ids), Upload.consortium_id == cid))
    expected = sorted((u.id, sites.get(u.site_id), u.rows) for u in uploads)
    claimed = sorted((c.upload, c.site, c.rows) for c in req.uploads)
    if claimed != expected:
        raise PolicyError(f"request {rid} says its result covers other uploads, sites or rows "
                          f"than job {job.id}'s; name the job's uploads as the cloud lists them "
                          f"(GET /v1/consortia/{cid}/jobs/{job.id})")
