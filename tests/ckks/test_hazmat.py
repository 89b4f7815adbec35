"""The exact-decryption door: the only way to a value that is not flooded (`hedge.ckks.hazmat`),
and the one place outside the key set that reaches its decryptor."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

import hedge
from hedge.ckks import KeySet
from hedge.ckks.hazmat import ExactReleases, decrypt_exact

SRC = Path(hedge.__file__).parent


def test_exact_releases_are_exact_and_spend_nothing(keys: KeySet) -> None:
    x = np.array([0.125, -0.5, 0.75])
    vector = keys.public().encrypt(x)
    used = keys.releases_used
    exact = ExactReleases(keys).release(vector, indices=[2, 0])
    assert np.allclose(exact.values, x[[2, 0]], atol=1e-6) and exact.noise_sigma == 0.0
    assert np.array_equal(decrypt_exact(keys, vector)[[2, 0]], exact.values)
    assert ExactReleases(keys).noise_sigma(2.0**-10, 3) == 0.0
    assert keys.releases_used == used


def test_a_key_set_decrypts_only_by_release() -> None:
    assert not hasattr(KeySet, "decrypt")
    reach = re.compile(r"\._decrypt\(|_decryptor\b")
    users = sorted(str(p.relative_to(SRC)) for p in SRC.rglob("*.py")
                   if reach.search(p.read_text()))
    assert users == ["ckks/hazmat.py", "ckks/keys.py", "ckks/release.py"]
