"""Exact decryption: the one door to decrypted values that are neither flooded nor counted.

A CKKS decryption is message + error, and the error depends on the secret key: exact
decryptions handed to someone who also holds the ciphertexts let them recover the key (Li and
Micciancio, EUROCRYPT 2021; `hedge.ckks.release`). Values that leave the party holding the keys
therefore go through `KeySet.release` (at the owner: `hedge.owner.releases.Releaser`, which
also persists the budget and audits). This module is for values that never leave it:

* the key service's refresh, re-encrypted at once (`hedge.owner.keyservice`);
* a party decrypting results over its own records under its own keys
  (`hedge.segmentation.assign`);
* the engine's self-check, and tests and benchmarks that measure the engine's error.

Every use is greppable as ``hazmat``; a new one needs the same argument as these.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from hedge.ckks.keys import KeySet
from hedge.ckks.release import DEFAULT_ERROR_BOUND, Release
from hedge.ckks.vector import EncryptedVector

__all__ = ["ExactReleases", "decrypt_exact"]


def decrypt_exact(keys: KeySet, vector: EncryptedVector) -> np.ndarray:
    """The exact decryption of `vector` (a float array of its length): not flooded, not
    counted; `KeyMismatchError` for another key set's ciphertext."""
    return keys._decrypt(vector)


class ExactReleases:
    """Stands in for a key set where results are decrypted exactly (`hedge.ckks.release.
    Releases`): what an artifact's `decrypt` gives without flooding, to measure a release's
    precision against. Spends nothing; its values must not leave the owner."""

    def __init__(self, keys: KeySet) -> None:
        self.keys = keys
        self.max_releases = keys.max_releases

    def release(self, vector: EncryptedVector, *, error_bound: float = DEFAULT_ERROR_BOUND,
                indices: Sequence[int] | None = None) -> Release:
        values = decrypt_exact(self.keys, vector)
        if indices is not None:
            values = values[list(indices)]
        return Release(values, error_bound, 0.0, 0.0, self.max_releases)

    def noise_sigma(self, error_bound: float, released: int) -> float:
        """No noise: 0."""
        return 0.0
