"""The cloud's records of a finished job, written as its worker leaves them: for tests of what
the cloud checks against them (a co-decryption request names a job's result)."""

from __future__ import annotations

import json

from sqlalchemy import select

from hedge.ckks import EncryptedVector
from hedge.cloud import CloudService
from hedge.cloud.db import Job, Site, Upload
from hedge.jobs.registry import kinds
from hedge.wire.requests import Coverage

#: The job kind whose result a request of each kind releases.
JOB_OF_KIND = {spec.release_kind: name for name, spec in kinds().items() if spec.release_kind}


def finished_job(service: CloudService, cid: int, vector: EncryptedVector,
                 uploads: list[Coverage], kind: str = "train") -> str:
    """The id of a finished job of `kind` over `uploads` (each upload recorded with its site
    and rows, if it is not yet) whose result holds `vector`."""
    result = service.blobs.put(vector.to_bytes())
    with service.db.session() as s:
        sites = dict(s.execute(select(Site.name, Site.id).where(Site.consortium_id == cid))
                     .all())
        for u in uploads:
            if s.get(Upload, u.upload) is None:
                s.add(Upload(id=u.upload, consortium_id=cid, site_id=sites[u.site],
                             idempotency_key=f"k{u.upload}", blob=f"{u.upload:064x}",
                             rows=u.rows, size=1))
        job = Job(consortium_id=cid, kind=kind, status="done", result=result,
                  spec=json.dumps({"uploads": [u.upload for u in uploads]}))
        s.add(job)
        s.flush()
        return str(job.id)
