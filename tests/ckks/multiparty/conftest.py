"""A consortium of three key holders on the fast preset, generated once per test session."""

from __future__ import annotations

import numpy as np
import pytest

from hedge.ckks import PublicBundle, preset
from hedge.ckks.multiparty import LocalConsortium
from hedge.ckks.vector import EncryptedVector

HOLDERS = ("owner", "plant-1", "plant-2")


@pytest.fixture(scope="session")
def consortium() -> LocalConsortium:
    """Fast preset, three holders, the default power-of-two rotation keys."""
    return LocalConsortium.generate(preset("fast"), HOLDERS)


class CollectiveKeys:
    """What the engine's operation tests ask of a key set, over a consortium: its bundle, and
    exact decryption (every holder's share flooded with sigma = 1, far below CKKS noise)."""

    def __init__(self, consortium: LocalConsortium) -> None:
        self.consortium = consortium
        self.params = consortium.params
        self.fingerprint = consortium.bundle.fingerprint

    def public(self) -> PublicBundle:
        return self.consortium.bundle

    def _decrypt(self, vector: EncryptedVector) -> np.ndarray:
        return self.consortium.decrypt(vector, flooding=1.0)
