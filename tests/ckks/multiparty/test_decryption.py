"""Threshold decryption: all shares give the value within the stated noise; one missing gives
noise; foreign, missing and mismatched shares are refused; the flooding constants hold."""

from __future__ import annotations

import math

import numpy as np
import pytest

from hedge.ckks import PRESETS, preset
from hedge.ckks.multiparty import (
    DEFAULT_MAX_DECRYPTIONS,
    MASKED_ERROR_BOUND,
    MASKED_VALUE_BOUND,
    Flooding,
    LocalConsortium,
    combine,
    decryption_share,
    masked_for_release,
)
from hedge.ckks.release import DEFAULT_ERROR_BOUND
from hedge.ckks.vector import EncryptedVector
from hedge.errors import CorruptDataError, DepthExhaustedError, KeyMismatchError, ParameterError
from tests.ckks.multiparty.conftest import HOLDERS

FAST = preset("fast")
SLOTS = FAST.slot_count


def shares_of(consortium: LocalConsortium, vector: EncryptedVector, sigma: float,
              names: tuple[str, ...] = HOLDERS) -> list:
    ct = vector.ciphertexts[0]
    return [decryption_share(consortium.shares[n], n, ct, sigma) for n in names]


def test_all_shares_decrypt_within_the_stated_noise(consortium: LocalConsortium) -> None:
    x = np.random.default_rng(0).uniform(-1, 1, SLOTS)
    v = consortium.bundle.encrypt(x)
    error = consortium.decrypt(v) - x
    expected = Flooding().slot_noise(FAST, len(HOLDERS))
    assert expected == pytest.approx(DEFAULT_ERROR_BOUND * math.sqrt(
        2 * len(HOLDERS) * DEFAULT_MAX_DECRYPTIONS * SLOTS))
    assert 0.9 * expected < error.std() < 1.1 * expected
    assert abs(error.mean()) < 6 * expected / math.sqrt(SLOTS)
    # without flooding (sigma = 1) the decryption is as precise as a single key's
    assert np.abs(consortium.decrypt(v, flooding=1.0) - x).max() < 1e-6


def test_a_masked_release_floods_for_its_values_alone(consortium: LocalConsortium) -> None:
    rng = np.random.default_rng(3)
    full = rng.uniform(-120, 120, SLOTS)  # every slot in use, near the fast preset's limit
    weights = consortium.bundle.encrypt(full).truncated(9)
    masked, flooding = masked_for_release(weights)
    assert flooding == Flooding(released=9) and masked.level == weights.level - 1
    exact = consortium.decrypt(EncryptedVector(masked.bundle, masked.ciphertexts, SLOTS,
                                               clean=True), flooding=1.0)
    assert np.abs(exact[:9] - full[:9]).max() < DEFAULT_ERROR_BOUND
    # the zeroed slots' error grows with the value they held: below r / 4 at the bound
    assert np.abs(exact[9:]).max() * MASKED_VALUE_BOUND / 120 < MASKED_ERROR_BOUND / 4
    errors = np.concatenate([consortium.decrypt(masked, flooding=flooding) - full[:9]
                             for _ in range(40)])
    expected = flooding.slot_noise(FAST, len(HOLDERS))
    assert 0.8 * expected < errors.std() < 1.2 * expected
    assert expected < Flooding().slot_noise(FAST, len(HOLDERS)) / 15
    assert np.abs(consortium.release(weights) - full[:9]).max() < 6 * expected
    with pytest.raises(DepthExhaustedError, match="masking a ciphertext for its release"):
        masked_for_release(weights.at_level(0))


def test_with_one_share_missing_the_result_is_noise(consortium: LocalConsortium) -> None:
    bits = np.random.default_rng(1).integers(0, 2, SLOTS)
    v = consortium.bundle.encrypt(bits - 0.5)
    for left_out in HOLDERS:
        names = tuple(n for n in HOLDERS if n != left_out)
        got = combine(FAST, v.ciphertexts[0], shares_of(consortium, v, 1.0, names), names)
        agreement = np.mean((got > 0) == (bits == 1))
        assert 0.45 < agreement < 0.55  # no better than chance on a known bit
        assert np.median(np.abs(got)) > 1e3


def test_missing_foreign_duplicate_and_mismatched_shares_are_refused(
        consortium: LocalConsortium) -> None:
    v = consortium.bundle.encrypt([1.0, 2.0])
    ct = v.ciphertexts[0]
    shares = shares_of(consortium, v, 1.0)
    with pytest.raises(KeyMismatchError, match="missing: plant-2"):
        combine(FAST, ct, shares[:2], HOLDERS)
    with pytest.raises(KeyMismatchError, match="not holders of this key: plant-9"):
        stranger = decryption_share(consortium.shares["owner"], "plant-9", ct, 1.0)
        combine(FAST, ct, [*shares, stranger], HOLDERS)
    with pytest.raises(KeyMismatchError, match="exactly one share"):
        combine(FAST, ct, [*shares, shares[0]], HOLDERS)
    lower = (v * 0.5).ciphertexts[0]  # a share of one level is no share of another
    with pytest.raises(KeyMismatchError, match=r"plant-1.*another ciphertext level"):
        combine(FAST, lower, [shares_of(consortium, v * 0.5, 1.0)[0], *shares[1:]], HOLDERS)
    bad = shares_of(consortium, v, 1.0)
    bad[1].residues[0, 0] = np.uint64(2**62)
    with pytest.raises(CorruptDataError, match="plant-1 holds residues"):
        combine(FAST, ct, bad, HOLDERS)
    engine = consortium.bundle.engine
    unrelinearised = engine.evaluator.multiply(ct, ct)
    with pytest.raises(ParameterError, match="relinearised"):
        decryption_share(consortium.shares["owner"], "owner", unrelinearised, 1.0)


def slot_errors(consortium: LocalConsortium, vector: EncryptedVector,
                ideal: np.ndarray) -> float:
    """max |error| over every slot (shares flooded with sigma = 1)."""
    whole = EncryptedVector(vector.bundle, vector.ciphertexts, SLOTS, clean=True)
    return float(np.abs(consortium.decrypt(whole, flooding=1.0) - ideal).max())


def test_honest_errors_stay_below_the_public_bound(consortium: LocalConsortium) -> None:
    x = np.random.default_rng(2).uniform(-1, 1, SLOTS)
    v = consortium.bundle.encrypt(x)
    errors = {"fresh": slot_errors(consortium, v, x),
              "rotation": slot_errors(consortium, v.rotate(5), np.roll(x, -5)),
              "mean of all slots": slot_errors(consortium, (v * (1 / SLOTS)).sum(),
                                               np.full(SLOTS, x.mean()))}
    y, ideal = v, x
    for _ in range(FAST.depth - 1):
        y, ideal = y * v, ideal * x
    errors["products"] = slot_errors(consortium, y, ideal)
    assert max(errors.values()) < DEFAULT_ERROR_BOUND, errors


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_flooding_costs_no_level_on_any_preset(name: str) -> None:
    params = PRESETS[name]
    scale = 2.0 ** params.scale_bits
    sigma = Flooding().sigma(params, scale)
    assert sigma == pytest.approx(math.sqrt(2) * DEFAULT_ERROR_BOUND * scale
                                  * math.sqrt(DEFAULT_MAX_DECRYPTIONS))
    q0_half = 2.0 ** (params.data_bits[0] - 1)
    assert 6 * sigma * math.sqrt(16) < q0_half * 2.0**-10  # 16 holders, six sigma
    # a masked release's sigma falls with the released count, to the zeroed slots' floor
    assert Flooding(released=1).sigma(params, scale) < sigma / 20
    assert Flooding(released=params.slot_count).sigma(params, scale) == pytest.approx(sigma)


@pytest.mark.parametrize("bad", [{"max_decryptions": 0}, {"released": 0},
                                 {"released": True}, {"error_bound": float("nan")},
                                 {"error_bound": 0.0}, {"error_bound": 2.0**11}])
def test_a_flooding_out_of_range_is_refused(bad: dict) -> None:
    with pytest.raises(ParameterError):
        Flooding(**bad)
    with pytest.raises(ParameterError, match="do not fit"):
        Flooding(released=SLOTS + 1).sigma(FAST, 2.0**30)
