"""Polynomial evaluation and vector-matrix products against numpy."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from numpy.polynomial import polynomial as npp

from hedge.ckks import KeySet, PublicBundle, polyval_depth, preset, rotations
from hedge.ckks._matmul import plan_matmul
from hedge.ckks.hazmat import decrypt_exact
from hedge.errors import DepthExhaustedError, RotationKeyError, ShapeError
from tests.conftest import TOL

coefficient = st.floats(-1, 1, allow_nan=False)


@given(coeffs=st.lists(coefficient, min_size=1, max_size=8), seed=st.integers(0, 2**16))
def test_polyval_matches_numpy(keys: KeySet, bundle: PublicBundle, coeffs: list[float],
                               seed: int) -> None:
    x = np.random.default_rng(seed).uniform(-1, 1, 100)
    result = bundle.encrypt(x).polyval(coeffs)
    assert np.allclose(decrypt_exact(keys, result), npp.polyval(x, coeffs), atol=TOL)
    assert result.level == bundle.params.depth - polyval_depth(coeffs)


@pytest.mark.parametrize("degree", range(1, 8))
def test_polyval_depth_is_minimal(degree: int) -> None:
    coeffs = [0.3] * (degree + 1)
    assert polyval_depth(coeffs) == math.ceil(math.log2(degree + 1))


def test_polyval_depth_folds_trivial_coefficients() -> None:
    assert polyval_depth([0.0, 1.0]) == 0
    assert polyval_depth([0.5, 0.0, 0.0, 0.0]) == 0  # trailing zeros: a constant
    assert polyval_depth([0.0, 0.0, 2.0]) == 1  # x^2 * 2: integer coefficient is free


def test_sigmoid_approximation_on_a_vector_filling_two_ciphertexts(
    keys: KeySet, bundle: PublicBundle
) -> None:
    x = np.linspace(-1, 1, 5000)
    coeffs = [0.5, 0.197, 0.0, -0.004]
    assert np.allclose(decrypt_exact(keys, bundle.encrypt(x).polyval(coeffs)),
                       npp.polyval(x, coeffs), atol=TOL)


def test_polyval_refuses_excess_degree_before_computing(bundle: PublicBundle) -> None:
    v = bundle.encrypt([0.1, 0.2])
    with pytest.raises(DepthExhaustedError) as info:
        v.polyval([0.1] * 9)  # degree 8 needs depth 4 > 3
    assert info.value.needed == 4 and info.value.available == 3


@given(d_in=st.integers(1, 130), d_out=st.integers(1, 130), seed=st.integers(0, 2**16))
def test_matmul_matches_numpy(keys: KeySet, bundle: PublicBundle, d_in: int, d_out: int,
                              seed: int) -> None:
    rng = np.random.default_rng(seed)
    x, m = rng.uniform(-1, 1, d_in), rng.uniform(-1, 1, (d_in, d_out))
    y = bundle.encrypt(x).matmul(m)
    assert y.length == d_out and y.level == bundle.params.depth - 1
    assert np.allclose(decrypt_exact(keys, y), x @ m, atol=1e-4)


@pytest.mark.parametrize("shape", [(64, 8), (128, 128), (8, 64), (100, 3)])
def test_matmul_operator_and_follow_up_operations(keys: KeySet, bundle: PublicBundle,
                                                  shape: tuple[int, int]) -> None:
    rng = np.random.default_rng(0)
    x, m = rng.uniform(-1, 1, shape[0]), rng.uniform(-1, 1, shape)
    y = bundle.encrypt(x) @ m
    assert np.allclose(decrypt_exact(keys, y), x @ m, atol=1e-4)
    # the output's padding is not clean; sum and further products must still be right
    assert abs(decrypt_exact(keys, y.sum())[0] - (x @ m).sum()) < 1e-3
    assert np.allclose(decrypt_exact(keys, y * y), (x @ m) ** 2, atol=1e-3)


def test_matmul_on_dirty_input_cleans_first(keys: KeySet, bundle: PublicBundle) -> None:
    rng = np.random.default_rng(1)
    x, m = rng.uniform(-1, 1, 16), rng.uniform(-1, 1, (16, 4))
    dirty = bundle.encrypt(x) + bundle.encrypt([0.0]).sum()
    assert not dirty.clean
    y = dirty.matmul(m)
    assert y.level == bundle.params.depth - 2
    assert np.allclose(decrypt_exact(keys, y), x @ m, atol=1e-4)


def test_matmul_needs_only_the_planned_rotation_keys() -> None:
    params = preset("fast")
    steps = rotations.steps_for_matmul(params, 64, 8)
    keys = KeySet.generate(params, rotations=steps)
    rng = np.random.default_rng(2)
    x, m = rng.uniform(-1, 1, 64), rng.uniform(-1, 1, (64, 8))
    y = keys.public().encrypt(x).matmul(m)
    assert np.allclose(decrypt_exact(keys, y), x @ m, atol=1e-4)
    assert len(steps) < 12  # block packing keeps the rotation count small


def test_matmul_plan_for_the_benchmark_shapes_is_cheap() -> None:
    slots = preset("fast").slot_count
    for d_in, d_out, max_rotations in [(64, 8, 9), (128, 128, 14)]:
        plan = plan_matmul(d_in, d_out, slots)
        assert len(plan.rotation_steps()) <= max_rotations


def test_missing_rotation_keys_raise_a_clear_error() -> None:
    keys = KeySet.generate("fast", rotations=[2])
    v = keys.public().encrypt(np.ones(4096))
    with pytest.raises(RotationKeyError, match="cannot be composed"):
        v.rotate(1)
    assert np.allclose(decrypt_exact(keys, v.rotate(6)), 1.0, atol=TOL)  # 2 + 2 + 2


def test_matmul_shape_errors(bundle: PublicBundle) -> None:
    v = bundle.encrypt(np.ones(4))
    with pytest.raises(ShapeError, match="4 rows"):
        v.matmul(np.ones((3, 2)))
    with pytest.raises(ShapeError):
        v.matmul(np.ones(4))
    with pytest.raises(ShapeError, match="NaN"):
        v.matmul(np.full((4, 2), np.nan))
    with pytest.raises(ShapeError, match="one ciphertext"):
        bundle.encrypt(np.ones(5000)).matmul(np.ones((5000, 2)))
    with pytest.raises(ShapeError, match="does not fit"):
        plan_matmul(3000, 3000, 4096)
