"""LinearModel's margin bound and the class-statistics layout both the cloud and the owner
check against."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from hedge.ml import LinearModel
from hedge.ml.dataset import class_statistics, class_statistics_length

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
