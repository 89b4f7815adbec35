"""hedge.owner — the owner's side: the key service (audited, policy-checked refresh).

>>> from hedge.owner import AuditLog, KeyService, InProcessRefreshClient
>>> service = KeyService(keys, AuditLog("audit.jsonl"))            # keys: the owner's KeySet
>>> service.register_job("job-1", length=10, columns=10, max_refreshes=20)
>>> client = InProcessRefreshClient(service)                       # or HttpRefreshClient

The HTTP API lives in `hedge.owner.http` (FastAPI), its client in `hedge.wire.keyservice_client`.
"""

from hedge.audit import GENESIS, AuditEntry, AuditLog, verify_log
from hedge.owner.keyservice import InProcessRefreshClient, Job, KeyService

__all__ = [
    "GENESIS",
    "AuditEntry",
    "AuditLog",
    "InProcessRefreshClient",
    "Job",
    "KeyService",
    "verify_log",
]
