"""Encrypted confusion counts: equal their plaintext twin, within the stated bound of the exact
counts, for a plaintext model and for a still-encrypted one."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from hedge.ckks import KeySet, container
from hedge.ckks.hazmat import ExactReleases, decrypt_exact
from hedge.ckks.release import flooding_sigma
from hedge.data import Schema, load_cmapss
from hedge.errors import CorruptDataError, DepthExhaustedError, ParameterError, SchemaError
from hedge.ml import (
    EncryptedDataset,
    EncryptedLinearModel,
    EncryptedLogisticRegression,
    LinearModel,
    brier_score,
)
from hedge.ml.artifact import ArtifactKind
from hedge.ml.confusion import (
    RELEASE_ERROR,
    ConfusionCounts,
    EncryptedConfusion,
    confusion_counts,
)
from hedge.ml.metrics import BRIER_BOUND, margins, tiled_weights
from hedge.ml.refresh import refresh_tiled
from hedge.owner import AuditLog, InProcessRefreshClient, KeyService

from .conftest import Edinburgh

pytestmark = pytest.mark.datasets  # needs ../shared/datasets (skipped without it)

CKKS_TOL = 1e-2  # counts: CKKS noise summed over ~1250 rows (measured ~1e-4)


@pytest.fixture(scope="module")
def keys(standard_keys: KeySet) -> KeySet:
    return standard_keys


def exact_counts(model: LinearModel, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    pred, pos = model.decision_function(x) > 0, y == 1
    return np.array([(pred & pos).sum(), (pred & ~pos).sum(), (~pred & ~pos).sum(),
                     (~pred & pos).sum()], dtype=np.float64)


def as_array(c: ConfusionCounts) -> np.ndarray:
    return np.array([c.tp, c.fp, c.tn, c.fn])


def check(result: EncryptedConfusion, keys: KeySet, model: LinearModel, x: np.ndarray,
          y: np.ndarray) -> None:
    counts = result.decrypt(ExactReleases(keys))
    margins = (2 * y - 1) * model.decision_function(x)
    # the plaintext twin: the same composite polynomial on the same margins
    c = (1 + result.approximation(margins / result.margin_bound)) / 2
    twin = np.array([(c * (y == 1)).sum(), ((1 - c) * (y == 0)).sum(), (c * (y == 0)).sum(),
                     ((1 - c) * (y == 1)).sum()])
    assert np.allclose(as_array(counts), twin, atol=CKKS_TOL)
    exact = exact_counts(model, x, y)
    bound = result.error_bound(margins)
    assert np.all(np.abs(as_array(counts) - exact) <= bound + CKKS_TOL)
    assert bound < 0.06 * len(y)  # the bound says something on this data
    assert abs(sum(as_array(counts)) - len(y)) < CKKS_TOL


def test_counts_of_a_plaintext_model(keys: KeySet, edinburgh: Edinburgh) -> None:
    x, y, data = edinburgh
    sk = LogisticRegression().fit(x, y)
    model = LinearModel(data.columns[1:], float(sk.intercept_[0]), sk.coef_[0])
    result = confusion_counts(data, model)
    assert result.sums.level == 0 and len(result.approximation.stages) == 2
    assert result.margin_bound == pytest.approx(abs(model.intercept) + np.abs(model.coef).sum())
    check(result, keys, model, x, y)
    released = result.decrypt(keys)  # what the owner hands out: flooded, about one count
    sigma = flooding_sigma(RELEASE_ERROR, result.sums.length, keys.max_releases)
    assert 0.5 < sigma < 1.5
    assert np.allclose(as_array(released), as_array(result.decrypt(ExactReleases(keys))),
                       atol=5 * sigma)
    exact = exact_counts(model, x, y)
    assert released.accuracy == pytest.approx((exact[0] + exact[2]) / len(y), abs=0.02)
    assert released.recall == pytest.approx(exact[0] / (exact[0] + exact[3]), abs=0.03)
    assert released.precision == pytest.approx(exact[0] / (exact[0] + exact[1]), abs=0.05)


def test_counts_and_brier_of_the_encrypted_trained_model(
        keys: KeySet, edinburgh: Edinburgh, tmp_path: Path) -> None:
    x, y, data = edinburgh
    encrypted = EncryptedLogisticRegression(iterations=2).fit(data)
    assert encrypted.tiled is not None and encrypted.tiled.level < 8
    encrypted.save(tmp_path / "model.hem")  # the tiled weights travel with the model file
    loaded = EncryptedLinearModel.load(tmp_path / "model.hem", keys.public())
    assert loaded.tiled is not None and loaded.tiled.level == encrypted.tiled.level
    assert np.allclose(decrypt_exact(keys, loaded.tiled), decrypt_exact(keys, encrypted.tiled))
    # a file with a third record is refused
    raw = container.to_bytes(ArtifactKind.MODEL, {"kind": "logistic", "columns": data.columns},
                             [(1, encrypted.weights.to_bytes())] * 3)
    (tmp_path / "bad.hem").write_bytes(raw)
    with pytest.raises(CorruptDataError, match="tiled"):
        EncryptedLinearModel.load(tmp_path / "bad.hem", keys.public())
    with pytest.raises(ParameterError, match="refresh_tiled"):  # no bound folded in yet
        confusion_counts(data, encrypted, margin_bound=8.0)
    with pytest.raises(DepthExhaustedError) as info:  # training used the weights' levels up
        confusion_counts(data, dataclasses.replace(encrypted, tiled_scale=0.125))
    assert info.value.needed == 8
    # the owner states a margin bound R (here: from the model itself, which only a test may
    # look at); the cloud refreshes the tiled weights through the key service with 1 / R folded
    # in (the service sees only masked weights)
    bound = 1.05 * float(np.abs(decrypt_exact(keys, encrypted.weights)).sum())
    service = KeyService(keys, AuditLog(tmp_path / "audit.jsonl"))
    service.register_job("eval-1", len(data.columns), len(data.columns), 1)
    fresh = refresh_tiled(InProcessRefreshClient(service), "eval-1", encrypted.tiled,
                          data.layout, scale=1.0 / bound)
    ready = dataclasses.replace(encrypted, tiled=fresh, tiled_scale=1.0 / bound)
    model = encrypted.decrypt(ExactReleases(keys))  # only to compute the plaintext references
    result = confusion_counts(data, ready)
    assert result.margin_bound == pytest.approx(bound)
    check(result, keys, model, x, y)
    with pytest.raises(ParameterError):
        confusion_counts(data, ready, margin_bound=2 * bound)
    brier = decrypt_exact(keys, brier_score(data, ready))[0]
    assert abs(brier - np.mean((y - model.predict_proba(x)) ** 2)) <= BRIER_BOUND


def test_large_weights_and_margins_beyond_the_bound(keys: KeySet, edinburgh: Edinburgh) -> None:
    x, y, data = edinburgh
    sk = LogisticRegression().fit(x, y)
    # five times the weights: the same predictions, R about 60 (raw margins to the 7th power
    # would overflow; 1 / R is folded into the weights before the dot product)
    model = LinearModel(data.columns[1:], 5 * float(sk.intercept_[0]), 5 * sk.coef_[0])
    check(confusion_counts(data, model), keys, model, x, y)
    # a stated bound far below the true margins: the sums cannot be counts, and say so
    tight = confusion_counts(data, model, margin_bound=2.0)
    margins = (2 * y - 1) * model.decision_function(x)
    assert tight.error_bound(margins) == float("inf")
    with pytest.raises(CorruptDataError, match="not counts"):
        tight.decrypt(ExactReleases(keys))


def test_refuses_regression_data_and_bad_bounds(keys: KeySet, edinburgh: Edinburgh) -> None:
    x, _, data = edinburgh
    model = LinearModel(data.columns[1:], 0.0, np.ones(x.shape[1]))
    with pytest.raises(SchemaError, match="logistic"):
        confusion_counts(data, LinearModel(data.columns[1:], 0.0, np.ones(x.shape[1]),
                                           kind="ridge"))
    for bad in (0.0, -1.0, float("nan")):
        with pytest.raises(ParameterError):
            confusion_counts(data, model, margin_bound=bad)
    train, _ = load_cmapss("FD001")
    frame = train[train["unit"] <= 2][["s2", "s3", "RUL"]]
    schema = Schema.infer(frame, label="RUL")
    regression = EncryptedDataset.encrypt_regression(
        keys.public(), schema.features_matrix(frame), schema.label_vector(frame) / 400,
        schema.columns)
    with pytest.raises(SchemaError):
        confusion_counts(regression, LinearModel(schema.columns, 0.0, np.ones(2)))


def test_margins_of_another_factor_are_refused(keys: KeySet, edinburgh: Edinburgh) -> None:
    # a plaintext model's Brier score takes its margins as they are, its confusion counts
    # take them divided by the bound: margins computed for the one are wrong for the other
    x, _, data = edinburgh
    model = LinearModel(data.columns[1:], 0.5, np.ones(x.shape[1]))
    for_brier = margins(data, *tiled_weights(data, model))
    with pytest.raises(ParameterError, match="confusion count needs margins times"):
        confusion_counts(data, model, shared=for_brier)
    for_counts = margins(data, *tiled_weights(data, model, 1.0 / model.margin_bound()))
    with pytest.raises(ParameterError, match="Brier score needs margins times 1"):
        brier_score(data, model, shared=for_counts)
