"""Encrypted assignment: distances under encryption match numpy; labels are the argmin."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hedge.ckks import KeySet
from hedge.errors import ParameterError, ShapeError
from hedge.segmentation.assign import (
    EncryptedRecords,
    assignment_keys,
    encrypted_distances,
    nearest_segments,
)

#: Squared distances are up to 4 d; CKKS error at depth 2 on the fast preset (measured ~1e-6).
DIST_TOL = 1e-4


@pytest.fixture(scope="module")
def keys() -> KeySet:
    return assignment_keys(6, 5)


@settings(max_examples=8, deadline=None)
@given(rows=st.integers(1, 700), k=st.integers(1, 5), seed=st.integers(0, 2**16))
def test_distances_match_numpy(keys: KeySet, rows: int, k: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, (rows, 6))
    c = rng.uniform(-1, 1, (k, 6))
    records = EncryptedRecords.encrypt(keys.public(), x, k)
    distances = encrypted_distances(records, c)
    assert all(d.level == keys.params.depth - 2 for d in distances)
    labels, d2 = nearest_segments(keys, distances, records, k)
    exact = ((x[:, None, :] - c[None, :, :]) ** 2).sum(axis=2)
    assert d2.shape == (rows, k) and np.abs(d2 - exact).max() < DIST_TOL
    gaps = np.sort(exact, axis=1)
    clear = k == 1 or (gaps[:, 1] - gaps[:, 0] > 2 * DIST_TOL)
    assert np.array_equal(labels[clear], exact.argmin(axis=1)[clear])


def test_keys_fit_the_features() -> None:
    assert assignment_keys(6, 5).params.name == "fast"
    assert assignment_keys(40, 3).params.name == "standard"  # 4 d >= 128: fast would wrap


def test_bad_shapes_are_refused(keys: KeySet) -> None:
    x = np.zeros((10, 6))
    records = EncryptedRecords.encrypt(keys.public(), x, 3)
    with pytest.raises(ShapeError):
        encrypted_distances(records, np.zeros((3, 5)))  # wrong feature count
    with pytest.raises(ShapeError):
        encrypted_distances(records, np.zeros((9, 6)))  # more centroids than the rows hold
    with pytest.raises(ShapeError):
        EncryptedRecords.encrypt(keys.public(), np.zeros((0, 6)), 3)
    with pytest.raises(ParameterError):
        EncryptedRecords.encrypt(keys.public(), np.zeros((2, 40)), 3)
