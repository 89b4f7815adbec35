"""The owner's keystore opened for releases: one command at a time, every release counted on
disk before it is decrypted.

The release budget (`KeySet.max_releases`, see `hedge.ckks.release`) is what the flooding noise
is sized for, so its count must never be lost: not to two owner commands releasing at once (each
would load the same count and write back its own), not to a crash after a decryption and before
the keystore was saved. `spending_keys` therefore holds an exclusive lock on the keystore for as
long as the keys are open, and writes the keystore (atomically, fsynced) each time a release is
counted, before that release decrypts anything. A release that fails after it was counted stays
counted.
"""

from __future__ import annotations

import fcntl
import logging
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from hedge.ckks import KeySet

__all__ = ["spending_keys"]

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
