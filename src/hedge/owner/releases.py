"""The owner's one way for a value to leave: `releasing` opens the keystore for releases, one
command at a time, every release counted on disk and in the audit log before it is decrypted.

The release budget (`KeySet.max_releases`, see `hedge.ckks.release`) is what the flooding noise
is sized for, so its count must never be lost: not to two owner commands releasing at once (each
would load the same count and write back its own), not to a crash after a decryption and before
the keystore was saved. `spending_keys` therefore holds an exclusive lock on the keystore for as
long as the keys are open, and writes the keystore (atomically, fsynced) each time a release is
counted, before that release decrypts anything. A release that fails after it was counted stays
counted.

`Releaser` is what `releasing` yields: the key set's release decryption (`hedge.ckks.release`)
with the keystore written and the audit log told on every spend, and the audit log for what was
released. It decrypts nothing exactly: the only exact decryption is `hedge.ckks.hazmat`'s.
"""

from __future__ import annotations

import fcntl
import logging
import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from hedge.audit import AuditLog
from hedge.ckks import EncryptedVector, KeySet, PublicBundle
from hedge.ckks.release import DEFAULT_ERROR_BOUND, Release
from hedge.errors import PolicyError

__all__ = ["Releaser", "releasing", "spending_keys"]

log = logging.getLogger(__name__)


@contextmanager
def spending_keys(path: str | os.PathLike[str], passphrase: str, *,
                  counted: Callable[[KeySet], None] | None = None) -> Iterator[KeySet]:
    """The key set in the keystore `path`, opened under an exclusive lock (`.NAME.lock` beside
    it; another command waits) and written back with its count each time a release is
    counted, before the release decrypts; then `counted` is called (an audit entry, so that
    a release that fails later is on record too). The keystore's own errors as
    `KeySet.load`'s."""
    keystore = Path(path)
    with keystore.with_name(f".{keystore.name}.lock").open("a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log.warning("%s: another owner command is releasing with these keys; waiting for it",
                        keystore)
            fcntl.flock(lock, fcntl.LOCK_EX)
        keys = KeySet.load(keystore, passphrase=passphrase)
        def spend(spent: KeySet) -> None:
            spent.save(keystore, passphrase=passphrase)
            if counted is not None:
                counted(spent)

        keys.on_spend = spend
        try:
            yield keys
        finally:
            keys.on_spend = None


class Releaser:
    """The owner's key set for releases under `job` (`hedge.ckks.release.Releases`): each
    `release` is counted in the keystore and audited as ``release-counted`` before it
    decrypts (by `releasing`); `record` audits what was released."""

    def __init__(self, keys: KeySet, log: AuditLog, job: str) -> None:
        self._keys, self.log, self.job = keys, log, job

    @property
    def max_releases(self) -> int:
        return self._keys.max_releases

    @property
    def releases_used(self) -> int:
        return self._keys.releases_used

    def public(self) -> PublicBundle:
        """The key set's public bundle (to read the artifacts a release decrypts)."""
        return self._keys.public()

    @property
    def depth(self) -> int:
        """The key set's multiplicative depth."""
        return self._keys.params.depth

    def release(self, vector: EncryptedVector, *, error_bound: float = DEFAULT_ERROR_BOUND,
                indices: Sequence[int] | None = None) -> Release:
        return self._keys.release(vector, error_bound=error_bound, indices=indices)

    def noise_sigma(self, error_bound: float, released: int) -> float:
        return self._keys.noise_sigma(error_bound, released)

    def record(self, event: str, details: dict[str, Any]) -> None:
        """Audit what the release gave (`event`: e.g. ``release-model``) under its job."""
        self.log.append(event, self.job, details)


@contextmanager
def releasing(keystore: str | os.PathLike[str], passphrase: str, log: AuditLog, job: str,
              action: str, *, refusals: bool = True) -> Iterator[Releaser]:
    """A `Releaser` over the keystore (`spending_keys`: one command at a time, each release
    counted on disk before it decrypts, audited as ``release-counted`` of `action` at once,
    whatever follows); with `refusals`, whatever the block raises is audited first as a
    refusal of `action` (a policy's reason, or the error's type and message)."""

    def counted(keys: KeySet) -> None:
        log.append("release-counted", job, {"action": action,
                                            "releases_used": keys.releases_used})

    with spending_keys(keystore, passphrase, counted=counted) as keys:
        try:
            yield Releaser(keys, log, job)
        except Exception as exc:
            if refusals:
                reason = (str(exc) if isinstance(exc, PolicyError)
                          else f"{type(exc).__name__}: {exc}")
                log.append("refused", job, {"action": action, "reason": reason[:2000]})
            raise
