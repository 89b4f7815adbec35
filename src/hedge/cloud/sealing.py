"""Secrets the cloud must keep for a while but never in its database: the key service's token
of an owner-assisted job (the job's own, `hedge.owner.keyservice`).

They are sealed with AES-256-GCM (pyca/cryptography) under the cloud's own seal key, 32 random
bytes in DATA_DIR/seal.key (mode 0600, created on first start, never in the database), bound to
where they belong (the consortium and the key-service job) as associated data: a sealed token
copied into another consortium's row, or into one naming another key-service job, does not
open. What this protects: a dump or backup of the database alone (PostgreSQL's, or SQLite's
file without the data directory) holds no token. A dump of the whole data directory holds the
key too: the workers need the token in clear while the job runs, so whoever controls the
cloud's machine can use it then (docs/pipeline.md). Jobs drop their sealed token once they end
(`hedge.cloud.jobs`).
"""

from __future__ import annotations

import base64
import os
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from hedge.errors import CorruptDataError
from hedge.files import write_atomic

__all__ = ["SEALED_PREFIX", "Seal"]

#: A sealed value's text starts with this (a token as the owner sends it never does).
SEALED_PREFIX = "sealed-v1:"
_KEY_FILE = "seal.key"


class Seal:
    """The cloud's seal key: `seal` / `unseal` short secrets bound to a context."""

    def __init__(self, data_dir: str | os.PathLike[str]) -> None:
        """The key in `data_dir`/seal.key, created (0600) if missing; `CorruptDataError` for a
        file that is not a seal key."""
        path = Path(data_dir) / _KEY_FILE
        if not path.exists():  # a first start: whoever links its key first, all use it
            fresh = path.with_name(f".{_KEY_FILE}.{os.getpid()}.{os.urandom(4).hex()}")
            write_atomic(fresh, AESGCM.generate_key(bit_length=256))
            try:
                os.link(fresh, path)  # fails if another process made one meanwhile
            except FileExistsError:
                pass
            finally:
                fresh.unlink()
        key = path.read_bytes()
        if len(key) != 32:
            raise CorruptDataError(f"{path} is not a seal key (32 bytes expected, found "
                                   f"{len(key)}); restore it from the cloud's backup, or "
                                   "remove it: jobs queued with the old key then fail")
        self._aead = AESGCM(key)

    def seal(self, secret: str, context: str) -> str:
        """`secret` encrypted and bound to `context`, as text (SEALED_PREFIX + base64)."""
        nonce = os.urandom(12)
        sealed = self._aead.encrypt(nonce, secret.encode(), context.encode())
        return SEALED_PREFIX + base64.b64encode(nonce + sealed).decode()

    def unseal(self, sealed: str, context: str) -> str:
        """The secret `seal` sealed for `context`; `CorruptDataError` for anything else (another
        context, another seal key, a modified or unsealed value)."""
        try:
            if not sealed.startswith(SEALED_PREFIX):
                raise ValueError("not sealed")
            raw = base64.b64decode(sealed[len(SEALED_PREFIX):], validate=True)
            return self._aead.decrypt(raw[:12], raw[12:], context.encode()).decode()
        except (ValueError, InvalidTag, UnicodeDecodeError):
            raise CorruptDataError("a sealed secret of this job does not open with this cloud's "
                                   "seal key (another key, another job, or modified); submit "
                                   "the job again") from None
