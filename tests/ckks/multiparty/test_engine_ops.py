"""The engine's own operation tests, run again under a collective key set: encryption under the
collective public key, relinearisation and rotations with the collective evaluation keys, and
decryption by every holder's share (tests/ckks/test_vector.py, test_poly_matmul.py)."""

from __future__ import annotations

import pytest

from hedge.ckks import PublicBundle
from hedge.ckks.multiparty import LocalConsortium
from tests.ckks.multiparty.conftest import CollectiveKeys
from tests.ckks.test_poly_matmul import *  # noqa: F403
from tests.ckks.test_vector import *  # noqa: F403


@pytest.fixture(scope="module")
def keys(consortium: LocalConsortium) -> CollectiveKeys:
    return CollectiveKeys(consortium)


@pytest.fixture(scope="module")
def bundle(consortium: LocalConsortium) -> PublicBundle:
    return consortium.bundle


def test_these_tests_run_under_the_collective_keys(keys: CollectiveKeys,
                                                   bundle: PublicBundle) -> None:
    assert isinstance(keys, CollectiveKeys)
    assert bundle is keys.consortium.bundle
