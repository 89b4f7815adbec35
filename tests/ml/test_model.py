"""LinearModel's margin bound and plausibility check, the class-statistics layout both the cloud
and the owner check against, and the penalties a dataset is encrypted with."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from hedge.ckks import PublicBundle
from hedge.data import Schema
from hedge.errors import ParameterError, SchemaError
from hedge.ml import EncryptedDataset, LinearModel
from hedge.ml.dataset import class_statistics, class_statistics_length
from hedge.ml.model import MAX_MARGIN

weights = arrays(np.float64, st.integers(1, 12),
                 elements=st.floats(-50, 50, allow_nan=False, allow_infinity=False))


@settings(max_examples=60, deadline=None)
@given(coef=weights, intercept=st.floats(-50, 50), seed=st.integers(0, 2**32 - 1))
def test_the_margin_bound_bounds_every_score_on_scaled_features(
        coef: np.ndarray, intercept: float, seed: int) -> None:
    model = LinearModel([f"x{i}" for i in range(len(coef))], intercept, coef)
    bound = model.margin_bound()
    assert bound == abs(intercept) + np.abs(coef).sum()
    x = np.random.default_rng(seed).uniform(-1, 1, (64, len(coef)))
    corners = np.sign(coef) * np.sign(intercept or 1.0)  # where |score| reaches the bound
    scores = model.decision_function(np.vstack([x, corners]))
    assert np.all(np.abs(scores) <= bound * (1 + 1e-12))
    assert np.isclose(np.abs(scores[-1]), bound)


@given(features=st.integers(1, 20), rows=st.integers(2, 30))
def test_class_statistics_have_the_stated_length(features: int, rows: int) -> None:
    x = np.ones((rows, features))
    y = np.arange(rows) % 2
    assert len(class_statistics(x, y.astype(float))) == class_statistics_length(features)


@pytest.mark.parametrize(("intercept", "coef", "message"), [
    (0.0, [1e308, 1e308], "margin bound"),  # finite weights, yet saturated everywhere
    (0.5, [float("nan"), 1.0], "coefficient 'x0'"),
    (float("inf"), [1.0, 1.0], "intercept"),
    (-float("nan"), [1.0, 1.0], "intercept"),
    (0.0, [600.0, -500.0], "margin bound"),
])
def test_implausible_models_are_refused_naming_what_is_wrong(
        intercept: float, coef: list[float], message: str) -> None:
    model = LinearModel(["x0", "x1"], intercept, np.array(coef))
    with pytest.raises(SchemaError, match=message):
        model.check_plausible()


def test_trained_models_are_plausible_and_the_limit_can_be_tightened() -> None:
    # the largest margin bound of the trained references (unregularised scikit-learn on the
    # AI4I machine data) is about 34; encrypted-trained models stay well below it
    LinearModel(["a", "b"], 4.0, np.array([20.0, -10.0])).check_plausible()
    LinearModel(["a"], 0.3, np.array([2.0]), kind="ridge").check_plausible()
    assert MAX_MARGIN >= 100
    LinearModel(["a"], 0.0, np.array([MAX_MARGIN])).check_plausible()  # the limit itself
    with pytest.raises(SchemaError, match="beyond 10"):
        LinearModel(["a"], 1.0, np.array([10.0])).check_plausible(max_margin=10.0)
    with pytest.raises(ParameterError, match="max_margin"):
        LinearModel(["a"], 1.0, np.array([1.0])).check_plausible(max_margin=float("nan"))


@pytest.mark.parametrize(("option", "value"), [
    ("l2", -1.0), ("l2", float("inf")), ("l2", float("nan")), ("ridge", -1e-3),
    ("ridge", float("inf")),
])
def test_penalties_of_a_classification_dataset_must_be_finite_and_not_negative(
        bundle: PublicBundle, option: str, value: float) -> None:
    x, y = np.zeros((4, 2)), np.array([0.0, 1.0, 0.0, 1.0])
    penalties = {"ridge": 1e-3, "l2": 0.0, option: value}
    with pytest.raises(ParameterError, match=f"{option} must be"):
        EncryptedDataset.encrypt(bundle, x, y, ["a", "b"], ridge=penalties["ridge"],
                                 l2=penalties["l2"])


@pytest.mark.parametrize("value", [-1.0, float("inf"), float("nan")])
def test_penalties_of_regression_and_frames_must_be_finite_and_not_negative(
        bundle: PublicBundle, value: float) -> None:
    x, y = np.zeros((4, 2)), np.array([0.0, 0.5, -0.5, 1.0])
    with pytest.raises(ParameterError, match="alpha must be"):
        EncryptedDataset.encrypt_regression(bundle, x, y, ["a", "b"], alpha=value)
    frame = pd.DataFrame({"a": [0.0, 1.0], "y": [0.0, 5.0]})  # a continuous label: ridge
    schema = Schema.infer(frame, label="y")
    with pytest.raises(ParameterError, match="l2 must be"):
        EncryptedDataset.from_frame(frame, schema, bundle, l2=value)
