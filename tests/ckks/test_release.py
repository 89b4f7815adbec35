"""Release decryption: flooding noise sized from the error estimate, rounding, randomness."""

from __future__ import annotations

import math

import numpy as np
import pytest

from hedge.ckks import KeySet, PublicBundle
from hedge.ckks.release import DEFAULT_MAX_RELEASES, _gaussian, flooding_sigma


def test_release_is_close_to_the_value_within_the_stated_precision(
    keys: KeySet, bundle: PublicBundle
) -> None:
    x = np.linspace(-1, 1, 16)
    v = bundle.encrypt(x)
    r = keys.release(v)
    assert r.values.shape == x.shape
    assert r.error_estimate >= 2.0**-40
    expected_sigma = flooding_sigma(r.error_estimate, 16, DEFAULT_MAX_RELEASES)
    assert r.noise_sigma == pytest.approx(expected_sigma)
    # 7 sigma: the chance of a false failure is below 1e-11 per value
    assert np.max(np.abs(r.values - x)) <= 7 * r.noise_sigma + r.step
    assert r.noise_sigma < 1e-3  # fresh ciphertexts lose little precision


@pytest.mark.parametrize("operation", ["fresh", "rotate", "scale", "multiply", "polyval",
                                       "matmul", "sum"])
def test_error_estimate_bounds_the_actual_error(keys: KeySet, bundle: PublicBundle,
                                                operation: str) -> None:
    x = np.random.default_rng(3).uniform(-1, 1, 4096)
    m = np.random.default_rng(4).uniform(-1, 1, (64, 8))
    v = bundle.encrypt(x)
    cases = {
        "fresh": (v, x),
        "rotate": (v.rotate(1), np.roll(x, -1)),
        "scale": (v.rotate(3) * 0.5, np.roll(x, -3) * 0.5),
        "multiply": (v * v, x * x),
        "polyval": (v.polyval([0.5, 0.197, 0, -0.004]),
                    0.5 + 0.197 * x - 0.004 * x**3),
        "matmul": (bundle.encrypt(x[:64]).matmul(m), x[:64] @ m),
        "sum": (v.sum(), [x.sum()]),
    }
    result, expected = cases[operation]
    actual = np.max(np.abs(keys.decrypt(result) - expected))
    r = keys.release(result, max_releases=1)
    assert r.error_estimate >= actual  # the estimate bounds the error it floods
    assert r.error_estimate < 1000 * actual + 2.0**-39


def test_release_is_flooded_not_the_exact_decryption(keys: KeySet, bundle: PublicBundle) -> None:
    v = bundle.encrypt(np.full(64, 0.3))
    a, b = keys.release(v).values, keys.release(v).values
    exact = keys.decrypt(v)
    assert not np.array_equal(a, b)  # fresh noise every time
    assert not np.allclose(a, exact, atol=r_step(keys, v) / 4)


def r_step(keys: KeySet, v: object) -> float:
    return keys.release(v).step  # type: ignore[arg-type]


def test_release_values_lie_on_the_rounding_grid(keys: KeySet, bundle: PublicBundle) -> None:
    r = keys.release(bundle.encrypt([0.123456789, -0.5]))
    assert math.log2(r.step).is_integer() and r.step <= r.noise_sigma
    assert np.allclose(r.values / r.step, np.round(r.values / r.step))


def test_more_releases_need_more_noise(keys: KeySet, bundle: PublicBundle) -> None:
    v = bundle.encrypt([0.25])
    few, many = keys.release(v, max_releases=1), keys.release(v, max_releases=2**30)
    assert many.noise_sigma / few.noise_sigma == pytest.approx(2**15, rel=0.5)
    with pytest.raises(ValueError):
        keys.release(v, max_releases=0)


def test_gaussian_sampler_is_standard_normal() -> None:
    z = _gaussian(200_000)
    assert abs(z.mean()) < 0.01 and abs(z.std() - 1) < 0.01
    assert np.all(np.isfinite(z))


def test_release_of_a_sum_reveals_only_the_total(keys: KeySet, bundle: PublicBundle) -> None:
    x = np.linspace(0, 1, 100)
    r = keys.release(bundle.encrypt(x).sum())
    assert r.values.shape == (1,)
    assert abs(r.values[0] - x.sum()) < 7 * r.noise_sigma + r.step
