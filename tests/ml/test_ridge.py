"""Encrypted ridge regression on C-MAPSS: one site equals scikit-learn, several the numpy twin."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import Ridge

from hedge.ckks import KeySet
from hedge.ckks.hazmat import ExactReleases
from hedge.data import Schema, load_cmapss, load_idash
from hedge.errors import SchemaError
from hedge.ml import (
    EncryptedDataset,
    EncryptedLogisticRegression,
    EncryptedRidge,
    RowLayout,
    reference_ridge_sites,
)

pytestmark = pytest.mark.datasets  # needs ../shared/datasets (skipped without it)

SENSORS = ["s2", "s3", "s4", "s7", "s8", "s9", "s11", "s12", "s13", "s14", "s15", "s17", "s20",
           "s21"]


@pytest.fixture(scope="module")
def keys() -> KeySet:
    return KeySet.generate("standard", rotations=sorted(RowLayout(15, 8192).rotation_steps()))


@pytest.fixture(scope="module")
def engines() -> tuple[np.ndarray, np.ndarray, Schema]:
    train, _ = load_cmapss("FD001")
    frame = train[train["unit"] <= 20].copy()
    frame["RUL"] = frame["RUL"].clip(upper=125)
    schema = Schema.infer(frame[[*SENSORS, "RUL"]], label="RUL")
    label = schema.label
    assert label is not None and label.kind == "continuous"
    y = schema.label_vector(frame)
    return schema.features_matrix(frame), 2 * (y - label.low) / (label.high - label.low) - 1, schema


def test_one_site_is_exactly_sklearn_ridge(keys: KeySet, engines: tuple[
        np.ndarray, np.ndarray, Schema]) -> None:
    x, y, schema = engines
    data = EncryptedDataset.encrypt_regression(keys.public(), x, y, schema.columns, alpha=1.0)
    fitted = EncryptedRidge().fit(data)
    assert fitted.weights.level == EncryptedRidge().weights_level(keys.params.depth, 1)
    model = fitted.decrypt(ExactReleases(keys))
    reference = Ridge(alpha=1.0).fit(x, y)
    assert abs(model.intercept - reference.intercept_) < 1e-4
    assert np.allclose(model.coef, reference.coef_, atol=1e-4)


def test_several_sites_equal_the_numpy_twin(keys: KeySet, engines: tuple[
        np.ndarray, np.ndarray, Schema]) -> None:
    x, y, schema = engines
    bundle = keys.public()
    cut = len(y) // 2
    parts = [EncryptedDataset.encrypt_regression(bundle, x[:cut], y[:cut], schema.columns),
             EncryptedDataset.encrypt_regression(bundle, x[cut:], y[cut:], schema.columns)]
    data = EncryptedDataset.concat(parts)
    fitted = EncryptedRidge(iterations=3).fit(data)
    assert fitted.weights.level == EncryptedRidge(iterations=3).weights_level(
        keys.params.depth, 2)
    model = fitted.decrypt(ExactReleases(keys))
    ones = np.ones((len(y), 1))
    z = np.hstack([ones, x])
    twin = reference_ridge_sites([z[:cut], z[cut:]], [y[:cut], y[cut:]], 1.0, 3)
    assert abs(model.intercept - twin[0]) < 1e-4
    assert np.allclose(model.coef, twin[1:], atol=1e-4)
    pooled = Ridge(alpha=1.0).fit(x, y)
    rmse = np.sqrt(np.mean((model.decision_function(x) - y) ** 2))
    assert rmse < 1.05 * np.sqrt(np.mean((pooled.predict(x) - y) ** 2))


def test_ridge_refuses_classification_data_and_vice_versa(keys: KeySet) -> None:
    frame = load_idash("lbw")
    schema = Schema.infer(frame, label="y")
    data = EncryptedDataset.encrypt(keys.public(), schema.features_matrix(frame),
                                    schema.label_vector(frame), schema.columns)
    with pytest.raises(SchemaError, match="regression"):
        EncryptedRidge().fit(data)
    assert EncryptedLogisticRegression().iteration_depth == 4


def test_several_sites_converge_to_the_pooled_ridge_not_least_squares(keys: KeySet) -> None:
    rng = np.random.default_rng(0)
    n, alpha = 2000, 50.0  # a penalty large enough to matter
    x = rng.uniform(-1, 1, (n, 5))
    y = x @ rng.normal(size=5) * 0.3 + rng.normal(size=n) * 0.2
    z = np.hstack([np.ones((n, 1)), x])
    ridge = Ridge(alpha=alpha).fit(x, y)
    pooled = np.r_[ridge.intercept_, ridge.coef_]
    least_squares = np.linalg.lstsq(z, y, rcond=None)[0]
    twin = reference_ridge_sites([z[: n // 2], z[n // 2 :]], [y[: n // 2], y[n // 2 :]], alpha, 3)
    assert np.abs(twin - pooled).max() < 0.002
    assert np.abs(twin - least_squares).max() > 0.02
    columns = [f"x{i}" for i in range(5)]
    bundle = keys.public()
    data = EncryptedDataset.concat([
        EncryptedDataset.encrypt_regression(bundle, x[: n // 2], y[: n // 2], columns,
                                            alpha=alpha),
        EncryptedDataset.encrypt_regression(bundle, x[n // 2 :], y[n // 2 :], columns,
                                            alpha=alpha)])
    model = EncryptedRidge(iterations=3).fit(data).decrypt(ExactReleases(keys))
    assert np.allclose(np.r_[model.intercept, model.coef], twin, atol=1e-4)
