"""`hedge.jobs.train.train`, the one training function of the cloud's workers and `hedge train`:
what it refuses before any homomorphic work."""

from __future__ import annotations

import numpy as np
import pytest

from hedge.ckks import EncryptedVector, KeySet
from hedge.errors import ParameterError, SchemaError
from hedge.jobs import train
from hedge.ml import EncryptedDataset


def _classification(keys: KeySet) -> EncryptedDataset:
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (20, 2))
    return EncryptedDataset.encrypt(keys.public(), x, (x[:, 0] > 0).astype(float), ["a", "b"])


def test_training_refuses_a_model_that_does_not_fit_the_data(keys: KeySet) -> None:
    data = _classification(keys)
    with pytest.raises(SchemaError, match="ridge regression is for regression, the data for "
                                          "classification"):
        train(data, "ridge", 2)
    with pytest.raises(ParameterError, match="not 'forest'"):
        train(data, "forest", 2)


def test_ridge_takes_no_refresh(keys: KeySet) -> None:
    rng = np.random.default_rng(1)
    x = rng.uniform(-1, 1, (20, 2))
    data = EncryptedDataset.encrypt_regression(keys.public(), x, x @ [0.5, -0.2], ["a", "b"])

    def refresh(w: EncryptedVector) -> EncryptedVector:
        raise AssertionError("never called")

    with pytest.raises(ParameterError, match="ridge trains without refresh"):
        train(data, "ridge", 2, refresh=refresh)
