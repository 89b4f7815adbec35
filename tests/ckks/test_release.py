"""Release decryption: public, fixed flooding noise, rounding, and a counted release budget."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from hedge.ckks import KeySet, PublicBundle
from hedge.ckks.hazmat import decrypt_exact
from hedge.ckks.release import DEFAULT_ERROR_BOUND, flooding_sigma, standard_normal
from hedge.errors import ParameterError, PolicyError


def test_release_is_close_to_the_value_within_the_stated_precision(
    keys: KeySet, bundle: PublicBundle
) -> None:
    x = np.linspace(-1, 1, 16)
    r = keys.release(bundle.encrypt(x))
    assert r.values.shape == x.shape
    assert r.error_bound == DEFAULT_ERROR_BOUND
    assert r.noise_sigma == pytest.approx(flooding_sigma(DEFAULT_ERROR_BOUND, 16,
                                                         keys.max_releases))
    # 7 sigma: the chance of a false failure is below 1e-11 per value
    assert np.max(np.abs(r.values - x)) <= 7 * r.noise_sigma + r.step


@pytest.mark.parametrize("operation", ["fresh", "rotate", "scale", "multiply", "polyval",
                                       "matmul", "sum"])
def test_public_error_bound_covers_honest_computations(keys: KeySet, bundle: PublicBundle,
                                                       operation: str) -> None:
    x = np.random.default_rng(3).uniform(-1, 1, 4096)
    m = np.random.default_rng(4).uniform(-1, 1, (64, 8))
    v = bundle.encrypt(x)
    cases = {
        "fresh": (v, x),
        "rotate": (v.rotate(1), np.roll(x, -1)),
        "scale": (v.rotate(3) * 0.5, np.roll(x, -3) * 0.5),
        "multiply": (v * v, x * x),
        "polyval": (v.polyval([0.5, 0.197, 0, -0.004]), 0.5 + 0.197 * x - 0.004 * x**3),
        "matmul": (bundle.encrypt(x[:64]).matmul(m), x[:64] @ m),
        "sum": (v.sum(), [x.sum()]),
    }
    result, expected = cases[operation]
    actual = np.max(np.abs(decrypt_exact(keys, result) - expected))
    assert actual < DEFAULT_ERROR_BOUND / 10  # the flooding is sized for errors up to the bound


def test_noise_does_not_depend_on_the_decryption(keys: KeySet, bundle: PublicBundle) -> None:
    small = keys.release(bundle.encrypt(np.full(8, 1e-3)))
    noisy = keys.release(bundle.encrypt(np.full(8, 0.9)).rotate(3) * 0.7)
    assert (small.noise_sigma, small.step) == (noisy.noise_sigma, noisy.step)


def test_release_is_flooded_not_the_exact_decryption(keys: KeySet, bundle: PublicBundle) -> None:
    v = bundle.encrypt(np.full(64, 0.3))
    a, b = keys.release(v), keys.release(v)
    assert not np.array_equal(a.values, b.values)  # fresh noise every time
    assert np.std(a.values - decrypt_exact(keys, v)) > a.noise_sigma / 3


def test_release_values_lie_on_the_rounding_grid(keys: KeySet, bundle: PublicBundle) -> None:
    r = keys.release(bundle.encrypt([0.123456789, -0.5]))
    assert math.log2(r.step).is_integer() and r.step <= r.noise_sigma
    assert np.allclose(r.values / r.step, np.round(r.values / r.step))


def test_release_budget_is_counted_enforced_and_saved(tmp_path: Path) -> None:
    keys = KeySet.generate("fast", rotations=[], max_releases=2)
    v = keys.public().encrypt([0.25])
    keys.release(v)
    path = tmp_path / "keys.hks"
    keys.save(path, passphrase="pw")
    reloaded = KeySet.load(path, passphrase="pw")
    assert (reloaded.releases_used, reloaded.max_releases) == (1, 2)
    reloaded.release(v)
    with pytest.raises(PolicyError, match="all 2 releases"):
        reloaded.release(v)
    assert keys.release(v).max_releases == 2  # the original object still has one left


def test_bad_release_arguments(keys: KeySet, bundle: PublicBundle) -> None:
    v = bundle.encrypt([0.25])
    for bad in (0.0, -1.0, float("nan")):
        with pytest.raises(ParameterError):
            keys.release(v, error_bound=bad)
    with pytest.raises(ParameterError):
        KeySet.generate("fast", rotations=[], max_releases=0)


def test_gaussian_sampler_is_standard_normal() -> None:
    z = standard_normal(200_000)
    assert abs(z.mean()) < 0.01 and abs(z.std() - 1) < 0.01
    assert np.all(np.isfinite(z))


def test_release_of_a_sum_reveals_only_the_total(keys: KeySet, bundle: PublicBundle) -> None:
    x = np.linspace(0, 1, 100)
    r = keys.release(bundle.encrypt(x).sum())
    assert r.values.shape == (1,)
    assert abs(r.values[0] - x.sum()) < 7 * r.noise_sigma + r.step


def test_a_release_of_some_values_floods_only_those(keys: KeySet, bundle: PublicBundle) -> None:
    """`indices`: the other values are decrypted and dropped inside, so the noise is sized for
    the released ones alone (fewer values, less noise each)."""
    vector = bundle.encrypt(np.array([1.0, 2.0, 3.0, 4.0, 5.0]))
    used = keys.releases_used
    some = keys.release(vector, indices=[4, 0])
    assert some.values.shape == (2,) and keys.releases_used == used + 1
    assert np.allclose(some.values, [5.0, 1.0], atol=6 * some.noise_sigma)
    assert some.noise_sigma == flooding_sigma(DEFAULT_ERROR_BOUND, 2, keys.max_releases)
    assert some.noise_sigma < keys.release(vector).noise_sigma
    for bad in ([], [0, 0], [5], [-1], [True]):
        with pytest.raises(ParameterError, match="distinct positions"):
            keys.release(vector, indices=bad)
    assert keys.releases_used == used + 2  # refused arguments spend nothing
