"""EncryptedVector arithmetic against numpy (fast preset, values in [-1, 1])."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from hedge.ckks import EncryptedVector, KeySet, PublicBundle
from hedge.ckks.hazmat import decrypt_exact
from hedge.errors import DepthExhaustedError, ParameterError, ShapeError
from tests.conftest import TOL

SLOTS = 4096
lengths = st.one_of(st.integers(1, 64), st.sampled_from([SLOTS - 1, SLOTS, SLOTS + 3, 2 * SLOTS]))
unit = st.floats(-1, 1, allow_nan=False, width=64)
scalars = st.floats(-4, 4, allow_nan=False).filter(lambda c: abs(c) > 1e-3)


def pair(length: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.uniform(-1, 1, length), rng.uniform(-1, 1, length)


@given(length=lengths, seed=st.integers(0, 2**16))
def test_add_sub_neg(keys: KeySet, bundle: PublicBundle, length: int, seed: int) -> None:
    x, y = pair(length, seed)
    vx, vy = bundle.encrypt(x), bundle.encrypt(y)
    assert np.allclose(decrypt_exact(keys, vx + vy), x + y, atol=TOL)
    assert np.allclose(decrypt_exact(keys, vx - vy), x - y, atol=TOL)
    assert np.allclose(decrypt_exact(keys, -vx), -x, atol=TOL)
    assert (vx + vy).level == bundle.params.depth  # additions consume no level


@given(length=lengths, seed=st.integers(0, 2**16), c=scalars)
def test_scalar_and_array_operands(keys: KeySet, bundle: PublicBundle, length: int, seed: int,
                                   c: float) -> None:
    x, y = pair(length, seed)
    vx = bundle.encrypt(x)
    assert np.allclose(decrypt_exact(keys, vx + c), x + c, atol=TOL)
    assert np.allclose(decrypt_exact(keys, c - vx), c - x, atol=TOL)
    assert np.allclose(decrypt_exact(keys, vx * c), x * c, atol=TOL)
    assert np.allclose(decrypt_exact(keys, c * vx), x * c, atol=TOL)
    assert np.allclose(decrypt_exact(keys, vx + y), x + y, atol=TOL)
    assert np.allclose(decrypt_exact(keys, vx * y), x * y, atol=TOL)
    expected_level = bundle.params.depth - (0 if float(c).is_integer() else 1)
    assert (vx * c).level == expected_level


@given(length=lengths, seed=st.integers(0, 2**16))
def test_multiply_encrypted(keys: KeySet, bundle: PublicBundle, length: int, seed: int) -> None:
    x, y = pair(length, seed)
    vx, vy = bundle.encrypt(x), bundle.encrypt(y)
    product = vx * vy
    assert np.allclose(decrypt_exact(keys, product), x * y, atol=TOL)
    assert product.level == bundle.params.depth - 1
    # operands at different levels are aligned automatically
    assert np.allclose(decrypt_exact(keys, product * vx + vy), x * y * x + y, atol=TOL)


def test_integer_multiplication_is_exact_and_free(keys: KeySet, bundle: PublicBundle) -> None:
    x = np.linspace(-1, 1, 33)
    v = bundle.encrypt(x) * 3
    assert v.level == bundle.params.depth
    assert np.allclose(decrypt_exact(keys, v), 3 * x, atol=TOL)


def test_multiplying_by_zero_gives_zeros(keys: KeySet, bundle: PublicBundle) -> None:
    v = bundle.encrypt(np.ones(10)) * 0
    assert np.allclose(decrypt_exact(keys, v), 0.0, atol=TOL)
    assert np.allclose(decrypt_exact(keys, v + 2.0), 2.0, atol=TOL)


@given(length=lengths, seed=st.integers(0, 2**16))
def test_sum_and_dot(keys: KeySet, bundle: PublicBundle, length: int, seed: int) -> None:
    x, y = pair(length, seed)
    vx, vy = bundle.encrypt(x), bundle.encrypt(y)
    total = vx.sum()
    assert total.length == 1 and total.replicated
    assert abs(decrypt_exact(keys, total)[0] - x.sum()) < 1e-4 * max(1, length / 1000)
    assert abs(decrypt_exact(keys, vx.dot(vy))[0] - x @ y) < 1e-4 * max(1, length / 1000)
    assert abs(decrypt_exact(keys, vx.dot(y))[0] - x @ y) < 1e-4 * max(1, length / 1000)
    assert total.level == bundle.params.depth


def test_sum_result_broadcasts_in_multiplication(keys: KeySet, bundle: PublicBundle) -> None:
    x = np.linspace(-1, 1, 50)
    vx = bundle.encrypt(x)
    mean = vx.sum() * (1 / x.size)
    centred = vx - mean * np.ones(x.size)
    assert np.allclose(decrypt_exact(keys, centred), x - x.mean(), atol=TOL)
    scaled = vx * mean
    assert np.allclose(decrypt_exact(keys, scaled), x * x.mean(), atol=TOL)
    assert np.allclose(decrypt_exact(keys, mean + 1.0), [x.mean() + 1.0], atol=TOL)


def test_sum_after_broadcast_addition_cleans_padding(keys: KeySet, bundle: PublicBundle) -> None:
    x = np.linspace(0, 1, 20)
    vx = bundle.encrypt(x)
    shifted = vx + vx.sum()  # padding now holds the total: not clean
    assert not shifted.clean
    assert abs(decrypt_exact(keys, shifted.sum())[0] - (x + x.sum()).sum()) < 1e-4


@given(length=st.sampled_from([1, 5, 64, SLOTS - 1, SLOTS, SLOTS + 3, 2 * SLOTS]),
       k=st.integers(-9000, 9000), seed=st.integers(0, 2**16))
def test_rotate_matches_numpy_roll(keys: KeySet, bundle: PublicBundle, length: int, k: int,
                                   seed: int) -> None:
    x, _ = pair(length, seed)
    rotated = bundle.encrypt(x).rotate(k)
    assert np.allclose(decrypt_exact(keys, rotated), np.roll(x, -k), atol=TOL)
    assert rotated.clean


def test_full_vector_rotation_costs_no_level(bundle: PublicBundle) -> None:
    v = bundle.encrypt(np.ones(SLOTS))
    assert v.rotate(5).level == bundle.params.depth
    assert bundle.encrypt(np.ones(10)).rotate(5).level == bundle.params.depth - 1


def test_depth_exhaustion_is_caught_before_seal(keys: KeySet, bundle: PublicBundle) -> None:
    v = bundle.encrypt([0.5, 0.25])
    for _ in range(bundle.params.depth):
        v = v * v
    assert v.level == 0
    assert np.allclose(decrypt_exact(keys, v), [0.5**8, 0.25**8], atol=TOL)
    with pytest.raises(DepthExhaustedError) as info:
        _ = v * v
    assert (info.value.needed, info.value.available) == (1, 0)
    with pytest.raises(DepthExhaustedError):
        _ = v * 0.5
    with pytest.raises(DepthExhaustedError):
        bundle.encrypt(np.ones(10)).polyval([0, 1] + [0] * 14 + [1])  # degree 16 needs depth 5
    assert np.allclose(decrypt_exact(keys, v + 1), [1 + 0.5**8, 1 + 0.25**8], atol=TOL)


@pytest.mark.parametrize("bad", [[np.nan, 1.0], [1.0, np.inf]])
def test_non_finite_values_are_refused(bundle: PublicBundle, bad: list[float]) -> None:
    with pytest.raises(ParameterError, match="NaN"):
        bundle.encrypt(bad)
    v = bundle.encrypt([1.0, 2.0])
    with pytest.raises(ParameterError):
        _ = v + np.array(bad)
    with pytest.raises(ParameterError):
        _ = v * float("nan")


def test_bad_shapes_are_refused(bundle: PublicBundle) -> None:
    with pytest.raises(ShapeError, match="one-dimensional"):
        bundle.encrypt(np.ones((2, 2)))
    with pytest.raises(ShapeError, match="empty"):
        bundle.encrypt([])
    with pytest.raises(ShapeError, match="real numbers"):
        bundle.encrypt(["a", "b"])
    v = bundle.encrypt([1.0, 2.0, 3.0])
    with pytest.raises(ShapeError, match="do not match"):
        _ = v + bundle.encrypt([1.0, 2.0])
    with pytest.raises(ShapeError):
        _ = v * np.ones(4)
    with pytest.raises(TypeError):
        _ = v + "text"  # type: ignore[operator]


def test_values_beyond_preset_range_are_refused(keys: KeySet, bundle: PublicBundle) -> None:
    with pytest.raises(ParameterError, match="scale the data"):
        bundle.encrypt([1e6])
    counts = bundle.encrypt([1e6, 2.5e5], check_range=False)  # added only: top level holds it
    assert np.allclose(decrypt_exact(keys, counts + counts), [2e6, 5e5], atol=1e-3)


@given(values=arrays(np.float64, st.integers(1, 40), elements=unit))
def test_encrypt_decrypt_round_trip(keys: KeySet, bundle: PublicBundle, values: np.ndarray) -> None:
    v = bundle.encrypt(values)
    assert isinstance(v, EncryptedVector) and len(v) == values.size
    assert np.allclose(decrypt_exact(keys, v), values, atol=TOL)


def test_repr_names_the_facts(bundle: PublicBundle) -> None:
    text = repr(bundle.encrypt(np.ones(5000)))
    assert "length=5000" in text and "ciphertexts=2" in text and "fast" in text


def test_at_level_keeps_values_and_shrinks_ciphertexts(keys: KeySet, bundle: PublicBundle) -> None:
    x = np.linspace(-1, 1, 100)
    v = bundle.encrypt(x)
    low = v.at_level(1)
    assert low.level == 1 and v.at_level(v.level) is v
    assert np.allclose(decrypt_exact(keys, low), x, atol=TOL)
    assert len(low.to_bytes()) < 0.6 * len(v.to_bytes())
    assert abs(decrypt_exact(keys, low.sum())[0] - x.sum()) < 1e-4
    with pytest.raises(ValueError, match="not below"):
        low.scaled_to(2.0, 2)
    with pytest.raises(DepthExhaustedError):
        low.at_level(-1)


def test_scaled_to_lands_at_the_requested_level(keys: KeySet, bundle: PublicBundle) -> None:
    x = np.linspace(-1, 1, 10)
    w = bundle.encrypt(x).scaled_to(0.3, 0)
    assert w.level == 0 and w.clean
    assert np.allclose(decrypt_exact(keys, w), 0.3 * x, atol=TOL)


def test_length_one_results_are_masked_before_summing(keys: KeySet, bundle: PublicBundle) -> None:
    rng = np.random.default_rng(8)
    x, m = rng.uniform(-1, 1, 8), rng.uniform(-1, 1, (8, 1))
    y = bundle.encrypt(x) @ m  # length 1, padding not clean
    assert abs(decrypt_exact(keys, y.sum())[0] - (x @ m)[0]) < 1e-4
    w = np.linspace(0, 1, 30)
    shifted = bundle.encrypt([3.0]) + bundle.encrypt(w).sum()  # replicated total added to 1 slot
    assert abs(decrypt_exact(keys, shifted.sum())[0] - (3.0 + w.sum())) < 1e-4
    assert shifted.cleaned().clean and shifted.cleaned().level == bundle.params.depth - 1


def test_exact_cancellation_gives_encrypted_zero(keys: KeySet, bundle: PublicBundle) -> None:
    v = bundle.encrypt([0.5, -0.25])
    for zero in (v - v, v + (-v)):
        assert np.allclose(decrypt_exact(keys, zero), 0.0, atol=TOL)
        assert np.allclose(decrypt_exact(keys, zero * 2.5 + v), [0.5, -0.25], atol=TOL)


def test_numpy_operands_on_the_left(keys: KeySet, bundle: PublicBundle) -> None:
    x = np.array([0.5, -0.25, 0.125])
    v = bundle.encrypt(x)
    for result, expected in ((x * v, x * x), (x + v, 2 * x), (x - v, 0 * x)):
        assert isinstance(result, EncryptedVector)
        assert np.allclose(decrypt_exact(keys, result), expected, atol=TOL)


def test_head_takes_a_prefix(keys: KeySet, bundle: PublicBundle) -> None:
    x = np.linspace(-1, 1, 5000)
    v = bundle.encrypt(x)
    assert v.head(5000) is v
    head = v.head(7)
    assert head.length == 7 and len(head.ciphertexts) == 1 and head.clean
    assert np.allclose(decrypt_exact(keys, head), x[:7], atol=TOL)
    assert abs(decrypt_exact(keys, head.sum())[0] - x[:7].sum()) < 1e-4
    with pytest.raises(ShapeError):
        v.head(0)


def test_truncated_keeps_the_prefix_without_a_level(keys: KeySet, bundle: PublicBundle) -> None:
    x = np.linspace(-1, 1, 100)
    v = bundle.encrypt(x)
    assert v.truncated(100) is v
    t = v.truncated(7)
    assert t.length == 7 and t.level == v.level and not t.clean
    assert np.allclose(decrypt_exact(keys, t), x[:7], atol=TOL)
    assert abs(decrypt_exact(keys, t.sum())[0] - x[:7].sum()) < 1e-4  # sum masks the rest first
    with pytest.raises(ShapeError):
        v.truncated(101)


@pytest.mark.parametrize(
    ("action", "error"),
    [
        (lambda v: v.polyval([]), ParameterError),
        (lambda v: v.polyval(["a"]), ParameterError),
        (lambda v: v.at_level(5), ParameterError),
        (lambda v: v.rotate(1.5), ParameterError),
        (lambda v: v.matmul("abc"), ShapeError),
    ],
)
def test_misuse_raises_hedge_errors(bundle: PublicBundle, action: object,
                                    error: type[Exception]) -> None:
    v = bundle.encrypt([0.5, 0.25])
    with pytest.raises(error):
        action(v)  # type: ignore[operator]
