"""Shared fixtures of the encrypted-evaluation tests: `standard` keys for the 10-wide layout and
the Edinburgh data encrypted as two sites (partial last blocks: padding rows must not count)."""

from __future__ import annotations

import numpy as np
import pytest

from hedge.ckks import KeySet
from hedge.data import Schema, load_idash
from hedge.ml import EncryptedDataset, RowLayout

Edinburgh = tuple[np.ndarray, np.ndarray, EncryptedDataset]


@pytest.fixture(scope="module")
def standard_keys() -> KeySet:
    return KeySet.generate("standard", rotations=sorted(RowLayout(10, 8192).rotation_steps()))


@pytest.fixture(scope="module")
def edinburgh(standard_keys: KeySet) -> Edinburgh:
    frame = load_idash("edin")
    schema = Schema.infer(frame, label="y")
    x, y = schema.features_matrix(frame), schema.label_vector(frame)
    bundle = standard_keys.public()
    data = EncryptedDataset.concat([
        EncryptedDataset.encrypt(bundle, x[:300], y[:300], schema.columns),
        EncryptedDataset.encrypt(bundle, x[300:], y[300:], schema.columns)])
    return x, y, data
