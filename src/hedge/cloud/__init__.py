"""hedge.cloud — the untrusted cloud: HTTP API, metadata database, content-addressed ciphertext
storage, job workers. Holds no secret key; knows `hedge.ml` and `hedge.ckks`, never a keystore.

`hedge.wire.cloud_client` (used by owners and edges) imports none of the service's machinery; the
names below load on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["BlobStore", "CloudService", "Database", "TooLargeError"]

_WHERE = {"BlobStore": "hedge.cloud.blobs", "TooLargeError": "hedge.errors",
          "Database": "hedge.cloud.db", "CloudService": "hedge.cloud.service"}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(importlib.import_module(_WHERE[name]), name)
    raise AttributeError(f"module 'hedge.cloud' has no attribute {name!r}")
