"""An encrypted evaluation of a model its owner encrypted afresh: Brier score and counts within
their stated bounds, through a file, released together."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from hedge.ckks import KeySet, container
from hedge.ckks.hazmat import ExactReleases, decrypt_exact
from hedge.ckks.release import flooding_sigma
from hedge.errors import CorruptDataError, ParameterError, SchemaError
from hedge.ml import EncryptedLinearModel, LinearModel
from hedge.ml.artifact import ArtifactKind
from hedge.ml.confusion import RELEASE_ERROR
from hedge.ml.evaluation import EncryptedEvaluation, evaluate, reference_sums
from hedge.ml.metrics import BRIER_BOUND

from .conftest import Edinburgh

pytestmark = pytest.mark.datasets  # needs ../shared/datasets (skipped without it)


def test_an_owner_encrypted_model_is_scored_without_its_weights(
        standard_keys: KeySet, edinburgh: Edinburgh) -> None:
    keys, (x, y, data) = standard_keys, edinburgh
    sk = LogisticRegression().fit(x, y)
    model = LinearModel(data.columns[1:], float(sk.intercept_[0]), sk.coef_[0])
    encrypted = EncryptedLinearModel.encrypt(model, keys.public())
    bound = abs(model.intercept) + float(np.abs(model.coef).sum())
    assert encrypted.tiled is not None and encrypted.tiled_scale == pytest.approx(1 / bound)
    assert encrypted.tiled.level == keys.public().params.depth  # fresh: every level left
    assert np.allclose(decrypt_exact(keys, encrypted.weights)[1:], model.coef, atol=1e-5)

    result = EncryptedEvaluation.from_bytes(evaluate(data, encrypted).to_bytes(), keys.public())
    report = result.decrypt(keys)  # two releases
    exact_brier = float(np.mean((y - model.predict_proba(x)) ** 2))
    assert abs(report.brier - exact_brier) <= BRIER_BOUND
    unreleased = result.decrypt(ExactReleases(keys))
    assert abs(unreleased.brier - exact_brier) < 0.01  # in practice far inside the bound
    # released as a sum: the flooding noise (sigma 0.25) is divided by the row count
    sigma = flooding_sigma(RELEASE_ERROR, 1, keys.max_releases)
    assert abs(report.brier - unreleased.brier) < 5 * sigma / len(y)
    predicted, positive = model.decision_function(x) > 0, y == 1
    margins = (2 * y - 1) * model.decision_function(x)
    stated = result.confusion.error_bound(margins) + 5.0  # + release noise (~1 count per sum)
    exact = [(predicted & positive).sum(), (predicted & ~positive).sum(),
             (~predicted & ~positive).sum(), (~predicted & positive).sum()]
    c = report.counts
    assert np.all(np.abs(np.array([c.tp, c.fp, c.tn, c.fn]) - exact) <= stated)
    assert report.rows == len(y) and report.as_dict()["rows"] == len(y)


def test_bad_models_and_files(standard_keys: KeySet, edinburgh: Edinburgh) -> None:
    bundle = standard_keys.public()
    model = LinearModel(["a"], 0.5, np.array([0.5]))
    with pytest.raises(ParameterError, match="not 1"):  # R = 1: nothing folded in
        EncryptedLinearModel.encrypt(model, bundle)
    with pytest.raises(ParameterError):
        EncryptedLinearModel.encrypt(model, bundle, margin_bound=-1.0)
    with pytest.raises(SchemaError, match="logistic"):
        EncryptedLinearModel.encrypt(LinearModel(["a"], 0.0, np.ones(1), kind="ridge"), bundle)
    one = bundle.encrypt(np.ones(3))
    for header, records in (({"rows": 5}, [(1, one.to_bytes()), (2, one.to_bytes())]),
                            ({"rows": 5, "width": 2, "margin_bound": 2.0, "stages": [[0.0]]},
                             [(1, one.to_bytes())])):
        raw = container.to_bytes(ArtifactKind.EVALUATION, header, records)
        with pytest.raises(CorruptDataError):
            EncryptedEvaluation.from_bytes(raw, bundle)


def test_the_released_sums_stay_within_their_public_bound_over_many_rows(
        standard_keys: KeySet) -> None:
    """The release's argument needs the CKKS error of every released sum within the public
    bound t it is flooded for. Over 4,096 rows (16 ciphertext blocks) the exact decryptions of
    the four sums are compared with the same arithmetic in float64: all within t (and with
    room: the benchmark, benchmarks/evaluation_error.py, goes to 32,768 rows)."""
    from hedge.ml import EncryptedDataset
    from hedge.ml.confusion import release_error
    from hedge.ml.metrics import brier_release_error

    rng = np.random.default_rng(4)
    rows, features = 4096, 9
    x = rng.uniform(-1, 1, (rows, features))
    y = (rng.uniform(size=rows) < 1 / (1 + np.exp(-(x @ rng.normal(0, 1.5, features))))
         ).astype(float)
    sk = LogisticRegression().fit(x, y)
    model = LinearModel([f"x{j}" for j in range(features)], float(sk.intercept_[0]),
                        sk.coef_[0])
    bundle = standard_keys.public()
    data = EncryptedDataset.encrypt(bundle, x, y, model.columns)
    result = evaluate(data, EncryptedLinearModel.encrypt(model, bundle))
    c = result.confusion
    exact = reference_sums(x, y, model, c.approximation)
    found = [decrypt_exact(standard_keys, result.squared_errors)[0],
             *decrypt_exact(standard_keys, c.sums)[[0, 1, c.width]]]
    error = np.abs(np.array(found) - exact)
    assert error[0] <= brier_release_error(rows) / 4, error
    assert np.all(error[1:] <= release_error(rows) / 4), error
