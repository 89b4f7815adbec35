"""Encrypted evaluation against the plaintext metric, within the stated error bounds."""

from __future__ import annotations

import numpy as np
import pytest

from hedge.ckks import KeySet
from hedge.ckks.hazmat import decrypt_exact
from hedge.data import Schema, load_cmapss
from hedge.errors import SchemaError, ShapeError
from hedge.ml import (
    BRIER_BOUND,
    EncryptedDataset,
    LinearModel,
    brier_score,
    mean_squared_error,
)
from hedge.ml.metrics import (
    BRIER_DEPTH,
    BRIER_ROW_ERROR,
    brier_bound,
    brier_release_error,
    margin_range,
)

from .conftest import Edinburgh

pytestmark = pytest.mark.datasets  # needs ../shared/datasets (skipped without it)


@pytest.fixture(scope="module")
def keys(standard_keys: KeySet) -> KeySet:
    return standard_keys


def test_brier_score_within_the_stated_bound(keys: KeySet, edinburgh: Edinburgh) -> None:
    x, y, data = edinburgh  # two sites with partial last blocks: padding rows must not count
    bundle = keys.public()
    rng = np.random.default_rng(0)
    model = LinearModel(data.columns[1:], -1.0, rng.uniform(-0.8, 0.8, x.shape[1]))
    encrypted = brier_score(data, model)
    assert encrypted.level == bundle.params.depth - BRIER_DEPTH
    value = decrypt_exact(keys, encrypted)[0]
    exact = float(np.mean((y - model.predict_proba(x)) ** 2))
    assert abs(value - exact) <= BRIER_BOUND
    assert abs(value - exact) < 0.01  # in practice far inside the bound
    with pytest.raises(ShapeError):
        brier_score(data, LinearModel(data.columns[1:4], 0.0, np.zeros(3)))


def test_a_wide_margin_bound_keeps_every_row_of_the_brier_score_bounded(
        keys: KeySet, edinburgh: Edinburgh) -> None:
    """Weights whose margin bound R is far beyond 8 and margins up to 20: the sigmoid
    polynomial is fitted on [-R, R], so no row's term diverges (a polynomial fitted on [-8, 8]
    reaches about 1,500 at 20) and the score stays within the wider bound."""
    x, y, data = edinburgh
    model = LinearModel(data.columns[1:], 0.5, np.linspace(-4.0, 4.0, x.shape[1]))
    assert model.margin_bound() > 8 and np.abs(model.decision_function(x)).max() > 10
    assert margin_range(model.margin_bound()) == model.margin_bound()
    value = decrypt_exact(keys, brier_score(data, model))[0]
    exact = float(np.mean((y - model.predict_proba(x)) ** 2))
    assert BRIER_BOUND < brier_bound(model.margin_bound()) < 0.5
    assert abs(value - exact) <= brier_bound(model.margin_bound())
    assert brier_bound(None) == brier_bound(3.0) == BRIER_BOUND


def test_release_bounds_grow_with_the_rows_summed() -> None:
    from hedge.ml.confusion import CONFUSION_ROW_ERROR, RELEASE_ERROR, release_error
    from hedge.ml.sign_approximation import SignApproximation

    assert release_error(1) == release_error(16384) == RELEASE_ERROR == 2.0**-10
    assert release_error(10**6) == 10**6 * CONFUSION_ROW_ERROR
    two, five = SignApproximation.for_levels(6), SignApproximation.for_levels(17)  # standard, deep
    assert release_error(10**6, two) == release_error(10**6)
    # deep's five stages amplify a row's error by their slope (430 against 9.8): so does t
    assert release_error(10**6, five) == pytest.approx(
        10**6 * CONFUSION_ROW_ERROR * five.max_slope() / two.max_slope())
    assert 40 < five.max_slope() / two.max_slope() < 50
    assert brier_release_error(100) == 2.0**-10
    assert brier_release_error(10**5) == 10**5 * BRIER_ROW_ERROR


def test_mean_squared_error_is_exact(keys: KeySet) -> None:
    train, _ = load_cmapss("FD001")
    frame = train[train["unit"] <= 5]
    sensors = ["s2", "s3", "s4", "s7", "s11", "s12", "s15", "s20", "s21"]
    schema = Schema.infer(frame[[*sensors, "RUL"]], label="RUL")
    x = schema.features_matrix(frame)
    y = schema.label_vector(frame) / 200.0
    bundle = keys.public()
    data = EncryptedDataset.concat([
        EncryptedDataset.encrypt_regression(bundle, x[:400], y[:400], schema.columns),
        EncryptedDataset.encrypt_regression(bundle, x[400:], y[400:], schema.columns)])
    model = LinearModel(schema.columns, 0.3, np.linspace(-0.2, 0.2, x.shape[1]), kind="ridge")
    encrypted = mean_squared_error(data, model)
    assert encrypted.level == bundle.params.depth - 1
    exact = float(np.mean((model.decision_function(x) - y) ** 2))
    assert abs(decrypt_exact(keys, encrypted)[0] - exact) < 1e-5 * max(1.0, exact)
    with pytest.raises(SchemaError):
        brier_score(data, model)
