"""Encrypted logistic regression: equals its plaintext twin, pools sites, refuses bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from hedge.ckks import KeySet
from hedge.ckks.hazmat import ExactReleases, decrypt_exact
from hedge.data import Schema, load_idash
from hedge.errors import DepthExhaustedError, KeyMismatchError, SchemaError, ShapeError
from hedge.ml import (
    EncryptedDataset,
    EncryptedLogisticRegression,
    RowLayout,
    preconditioner,
    reference_fit,
    reference_fit_sites,
)

pytestmark = pytest.mark.datasets  # needs ../shared/datasets (skipped without it)

#: CKKS noise after training at N=16384, scale 2^40 (measured ~1e-6 on Edinburgh)
TRAIN_TOL = 1e-4


@pytest.fixture(scope="module")
def standard_keys() -> KeySet:
    """The standard preset (depth 8) with only the rotation keys training needs."""
    steps = RowLayout(10, 8192).rotation_steps()
    return KeySet.generate("standard", rotations=sorted(steps))


Data = tuple[np.ndarray, np.ndarray, Schema]


@pytest.fixture(scope="module")
def edinburgh() -> Data:
    frame = load_idash("edin")
    schema = Schema.infer(frame, label="y")
    return schema.features_matrix(frame), schema.label_vector(frame), schema


def design(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return np.hstack([np.ones((len(y), 1)), x]) * (2 * y - 1)[:, None]


def test_local_preconditioning_equals_its_plaintext_twin(
    standard_keys: KeySet, edinburgh: Data
) -> None:
    x, y, schema = edinburgh
    bundle = standard_keys.public()
    cut = 600  # two sites, pooled in the cloud; nothing is released before training
    sites = [EncryptedDataset.encrypt(bundle, x[:cut], y[:cut], schema.columns),
             EncryptedDataset.encrypt(bundle, x[cut:], y[cut:], schema.columns)]
    pooled = EncryptedDataset.concat(sites)
    assert pooled.rows == len(y) and pooled.site_rows == [cut, len(y) - cut]
    assert pooled.site_blocks() == [3, 3]
    estimator = EncryptedLogisticRegression(iterations=2)
    assert estimator.get_params() == {"iterations": 2, "learning_rate": 1.0, "degree": 3,
                                      "bound": 6.0}
    model = estimator.fit(pooled)
    top = bundle.params.depth
    assert model.weights.level == estimator.weights_level(top, refreshed=False) == top - 7
    exact = model.decrypt(ExactReleases(standard_keys))
    twin = reference_fit_sites([design(x[:cut], y[:cut]), design(x[cut:], y[cut:])], 2, 1.0,
                               estimator.coeffs)
    assert abs(exact.intercept - twin[0]) < TRAIN_TOL
    assert np.allclose(exact.coef, twin[1:], atol=TRAIN_TOL)
    released = model.decrypt(standard_keys)
    assert np.allclose(released.coef, twin[1:], atol=0.2)
    assert roc_auc_score(y, released.decision_function(x)) > 0.955
    sk = released.to_sklearn()
    assert np.allclose(sk.predict_proba(x)[:, 1], released.predict_proba(x))  # type: ignore[attr-defined]


def test_pooled_preconditioning_from_the_released_gram_matrix(
    standard_keys: KeySet, edinburgh: Data
) -> None:
    x, y, schema = edinburgh
    bundle = standard_keys.public()
    sites = [EncryptedDataset.encrypt(bundle, x[:300], y[:300], schema.columns),
             EncryptedDataset.encrypt(bundle, x[300:], y[300:], schema.columns)]
    pooled = EncryptedDataset.concat(sites)
    gram = standard_keys.release(pooled.gram).values.reshape(10, 10)
    z = design(x, y)
    assert np.allclose(gram, z.T @ z, atol=0.5)  # released: flooded, still close
    p = preconditioner(gram)
    estimator = EncryptedLogisticRegression(iterations=2)
    exact = estimator.fit(pooled, p).decrypt(ExactReleases(standard_keys))
    twin = reference_fit(z, p, 2, 1.0, estimator.coeffs)
    assert abs(exact.intercept - twin[0]) < TRAIN_TOL
    assert np.allclose(exact.coef, twin[1:], atol=TRAIN_TOL)
    assert roc_auc_score(y, exact.decision_function(x)) > 0.96


def test_dataset_file_round_trip_and_foreign_bundle(
    standard_keys: KeySet, edinburgh: Data, tmp_path: Path
) -> None:
    x, y, schema = edinburgh
    bundle = standard_keys.public()
    data = EncryptedDataset.encrypt(bundle, x[:100], y[:100], schema.columns)
    path = tmp_path / "site.hed"
    data.save(path)
    loaded = EncryptedDataset.load(path, bundle)
    assert loaded.site_rows == [100] and loaded.columns == data.columns
    z = design(x[:100], y[:100])
    assert np.allclose(decrypt_exact(standard_keys, loaded.gram).reshape(10, 10), z.T @ z,
                       atol=1e-5)
    other = KeySet.generate("fast", rotations=[1]).public()
    with pytest.raises(KeyMismatchError):
        EncryptedDataset.load(path, other)


def test_bad_training_input(
    standard_keys: KeySet, edinburgh: Data
) -> None:
    x, y, schema = edinburgh
    bundle = standard_keys.public()
    with pytest.raises(SchemaError, match="0 or 1"):
        EncryptedDataset.encrypt(bundle, x[:5], np.full(5, 2.0), schema.columns)
    with pytest.raises(SchemaError, match="NaN"):
        EncryptedDataset.encrypt(bundle, np.full((5, 9), np.nan), y[:5], schema.columns)
    with pytest.raises(ShapeError):
        EncryptedDataset.encrypt(bundle, x[:5], y[:4], schema.columns)
    data = EncryptedDataset.encrypt(bundle, x[:50], y[:50], schema.columns)
    with pytest.raises(ShapeError, match="square"):
        EncryptedLogisticRegression().fit(data, np.eye(3))
    with pytest.raises(DepthExhaustedError) as info:
        EncryptedLogisticRegression(iterations=3).fit(data)
    assert info.value.needed == 11 and info.value.available == 8
    narrower = EncryptedDataset.encrypt(bundle, x[:50, :5], y[:50], schema.columns[:5])
    with pytest.raises(SchemaError, match="same schema"):
        EncryptedDataset.concat([data, narrower])


def test_balanced_class_weights_for_rare_failures(standard_keys: KeySet) -> None:
    from hedge.data import load_ai4i
    from hedge.ml.dataset import row_weights

    frame = load_ai4i().iloc[:1500]
    leaks = ["UDI", "Product ID", "TWF", "HDF", "PWF", "OSF", "RNF"]
    schema = Schema.infer(frame, label="Machine failure", exclude=leaks)
    x, y = schema.features_matrix(frame), schema.label_vector(frame)
    assert 10 < y.sum() < 100  # rare failures
    bundle = standard_keys.public()
    sites = [EncryptedDataset.encrypt(bundle, x[:700], y[:700], schema.columns,
                                      class_weight="balanced"),
             EncryptedDataset.encrypt(bundle, x[700:], y[700:], schema.columns,
                                      class_weight="balanced")]
    estimator = EncryptedLogisticRegression(iterations=2)
    exact = estimator.fit(EncryptedDataset.concat(sites)).decrypt(ExactReleases(standard_keys))
    twin = reference_fit_sites(
        [design(x[:700], y[:700]), design(x[700:], y[700:])], 2, 1.0, estimator.coeffs,
        weights=[row_weights(y[:700], "balanced"), row_weights(y[700:], "balanced")])
    assert abs(exact.intercept - twin[0]) < TRAIN_TOL
    assert np.allclose(exact.coef, twin[1:], atol=TRAIN_TOL)
    with pytest.raises(SchemaError, match="same schema"):
        EncryptedDataset.concat([sites[0], EncryptedDataset.encrypt(bundle, x[:50], y[:50],
                                                                    schema.columns)])
    with pytest.raises(SchemaError, match="both classes"):
        row_weights(np.zeros(5), "balanced")


def test_dataset_files_with_vectors_in_the_wrong_roles_are_refused(
    standard_keys: KeySet, edinburgh: Data, tmp_path: Path
) -> None:
    from hedge.errors import CorruptDataError

    x, y, schema = edinburgh
    bundle = standard_keys.public()
    data = EncryptedDataset.encrypt(bundle, x[:40], y[:40], schema.columns)
    data.gram = data.doubled[0]  # what a crafted file could try
    data.save(tmp_path / "crafted.hed")
    with pytest.raises(CorruptDataError, match="role"):
        EncryptedDataset.load(tmp_path / "crafted.hed", bundle)


def test_l2_regularisation_equals_its_twin_and_shrinks(standard_keys: KeySet,
                                                       edinburgh: Data) -> None:
    x, y, schema = edinburgh
    bundle = standard_keys.public()
    cut, l2 = 700, 30.0
    parts = [EncryptedDataset.encrypt(bundle, x[:cut], y[:cut], schema.columns, l2=l2),
             EncryptedDataset.encrypt(bundle, x[cut:], y[cut:], schema.columns, l2=l2)]
    estimator = EncryptedLogisticRegression(iterations=2)
    exact = estimator.fit(EncryptedDataset.concat(parts)).decrypt(ExactReleases(standard_keys))
    zs = [design(x[:cut], y[:cut]), design(x[cut:], y[cut:])]
    twin = reference_fit_sites(zs, 2, 1.0, estimator.coeffs, l2=l2)
    assert abs(exact.intercept - twin[0]) < TRAIN_TOL
    assert np.allclose(exact.coef, twin[1:], atol=TRAIN_TOL)
    plain = reference_fit_sites(zs, 2, 1.0, estimator.coeffs)
    assert np.linalg.norm(twin[1:]) < 0.9 * np.linalg.norm(plain[1:])  # the penalty shrinks
    with pytest.raises(SchemaError, match="same schema"):
        EncryptedDataset.concat([parts[0], EncryptedDataset.encrypt(bundle, x[:50], y[:50],
                                                                    schema.columns)])


def test_process_pool_training_gives_the_same_model(standard_keys: KeySet, edinburgh: Data,
                                                    tmp_path: Path) -> None:
    from hedge.ckks import CkksPool

    x, y, schema = edinburgh
    bundle = standard_keys.public()
    data = EncryptedDataset.encrypt(bundle, x[:600], y[:600], schema.columns)
    estimator = EncryptedLogisticRegression(iterations=2)
    alone = estimator.fit(data).decrypt(ExactReleases(standard_keys))
    bundle.save(tmp_path / "public.bundle")
    with CkksPool(tmp_path / "public.bundle", workers=2) as pool:
        pooled = estimator.fit(data, pool=pool).decrypt(ExactReleases(standard_keys))
    assert abs(pooled.intercept - alone.intercept) < 1e-9
    assert np.allclose(pooled.coef, alone.coef, atol=1e-9)


def test_ray_cluster_training_gives_the_same_model_as_the_process_pool(
    standard_keys: KeySet, edinburgh: Data
) -> None:
    pytest.importorskip("ray")
    from hedge.ckks import CkksPool
    from hedge.ckks.ray_pool import RayPool

    x, y, schema = edinburgh
    bundle = standard_keys.public()
    data = EncryptedDataset.encrypt(bundle, x[:300], y[:300], schema.columns)
    estimator = EncryptedLogisticRegression(iterations=2)
    with CkksPool(bundle, workers=2, start_method="fork") as pool:
        local = estimator.fit(data, pool=pool).decrypt(ExactReleases(standard_keys))
    with RayPool(bundle, workers=2, object_store_bytes=2 * 1024**3) as cluster:
        remote = estimator.fit(data, pool=cluster).decrypt(ExactReleases(standard_keys))
    assert abs(remote.intercept - local.intercept) < 1e-9
    assert np.allclose(remote.coef, local.coef, atol=1e-9)
