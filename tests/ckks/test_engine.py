"""Level and scale management, rotation decomposition."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from hedge.ckks import KeySet, PublicBundle, preset
from hedge.ckks._engine import decompose_rotation, engine_for, power_of_two_steps
from hedge.ckks.hazmat import decrypt_exact
from hedge.errors import RotationKeyError


@pytest.mark.parametrize("name", ["fast", "standard"])
def test_canonical_scales_close_rescaling_exactly(name: str) -> None:
    eng = engine_for(preset(name))
    assert eng.scales[0] == 2.0**40
    for level in range(1, eng.top_level + 1):
        assert eng.scales[level] ** 2 / eng.primes[level] == pytest.approx(eng.scales[level - 1],
                                                                          rel=1e-12)
        assert abs(math.log2(eng.scales[level]) - 40) < 0.01  # drift stays tiny


def test_every_ciphertext_has_the_canonical_scale_of_its_level(bundle: PublicBundle) -> None:
    eng = bundle.engine
    v = bundle.encrypt(np.linspace(-1, 1, 10))
    for w in (v, v * 0.3, v * v, (v * v) * v, v.polyval([0.1, 0.2, 0.3]), v.rotate(2)):
        ct = w.ciphertexts[0]
        assert ct.scale() == pytest.approx(eng.scales[w.level], rel=1e-12)


def test_mixed_level_addition(keys: KeySet, bundle: PublicBundle) -> None:
    x = np.linspace(-1, 1, 10)
    v = bundle.encrypt(x)
    deep = (v * v) * v  # level 1
    total = deep + v + v * 0.5  # levels 1, 3, 2
    assert total.level == 1
    assert np.allclose(decrypt_exact(keys, total), x**3 + 1.5 * x, atol=1e-5)


@given(step=st.integers(-10000, 10000))
def test_rotation_decomposes_into_power_of_two_keys(step: int) -> None:
    slots = 4096
    available = frozenset(power_of_two_steps(slots))
    parts = decompose_rotation(step, slots, available)
    assert sum(parts) % slots == step % slots
    assert all(p in available for p in parts)
    assert len(parts) <= 7  # signed binary needs at most ~log2(slots)/2 + 1 parts


def test_rotation_without_a_path_is_refused() -> None:
    with pytest.raises(RotationKeyError):
        decompose_rotation(1, 4096, frozenset({2, 4}))
    assert decompose_rotation(0, 4096, frozenset()) == ()


def test_keys_with_only_planned_steps_still_sum(keys: KeySet) -> None:
    from hedge.ckks import rotations

    params = preset("fast")
    small = KeySet.generate(params, rotations=rotations.steps_for_sum(params))
    x = np.linspace(0, 1, 100)
    assert abs(decrypt_exact(small, small.public().encrypt(x).sum())[0] - x.sum()) < 1e-4
    assert len(small.public().rotation_steps) == 12


def test_keys_with_only_the_steps_of_a_partial_rotation() -> None:
    from hedge.ckks import rotations

    params = preset("fast")
    steps = rotations.steps_for_rotate(params, 10, 3)
    keys = KeySet.generate(params, rotations=steps)
    x = np.linspace(-1, 1, 10)
    assert np.allclose(decrypt_exact(keys, keys.public().encrypt(x).rotate(3)), np.roll(x, -3),
                       atol=1e-6)
    assert len(steps) == 2  # one step for each source run of the cyclic shift
