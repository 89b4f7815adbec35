"""Threshold decryption: all shares give the value within the stated noise; one missing gives
noise; foreign, missing and mismatched shares are refused; the flooding constants hold."""

from __future__ import annotations

import math

import numpy as np
import pytest

from hedge.ckks import PRESETS, preset
from hedge.ckks.multiparty import (
    COEFFICIENT_ERROR_BOUND,
    DEFAULT_MAX_DECRYPTIONS,
    LocalConsortium,
    _layout,
    _rns,
    combine,
    combine_plaintext,
    decryption_share,
    flooding_sigma,
    slot_noise,
)
from hedge.ckks.multiparty.ring import ring_for
from hedge.ckks.vector import EncryptedVector
from hedge.errors import CorruptDataError, KeyMismatchError, ParameterError
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
    expected = slot_noise(FAST, len(HOLDERS), v.ciphertexts[0].scale())
    assert 0.9 * expected < error.std() < 1.1 * expected
    assert abs(error.mean()) < 6 * expected / math.sqrt(SLOTS)
    # without flooding (sigma = 1) the decryption is as precise as a single key's
    assert np.abs(consortium.decrypt(v, sigma=1.0) - x).max() < 1e-6


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


def coefficient_error(consortium: LocalConsortium, vector: EncryptedVector,
                      ideal: np.ndarray) -> int:
    """max |e_k| of c0 + c1 s - encode(ideal) (shares flooded with sigma = 1)."""
    ring, ct = ring_for(FAST), vector.ciphertexts[0]
    got = combine_plaintext(FAST, ct, shares_of(consortium, vector, 1.0), HOLDERS)
    want = ring.engine.encode(np.asarray(ideal, float), vector.level, ct.scale())
    difference = _rns.submod(_layout.parse_plaintext(got.to_bytes(), ring.n).polys[0],
                             _layout.parse_plaintext(want.to_bytes(), ring.n).polys[0],
                             ring.column(vector.level + 1))
    return int(np.abs(ring.centered_coefficients(difference, tuple(ct.parms_id()))).max())


def test_honest_errors_stay_below_the_public_bound(consortium: LocalConsortium) -> None:
    x = np.random.default_rng(2).uniform(-1, 1, SLOTS)
    v = consortium.bundle.encrypt(x)
    errors = {"fresh": coefficient_error(consortium, v, x),
              "sum of all slots": coefficient_error(consortium, v.sum(), np.full(SLOTS, x.sum())),
              "rotation": coefficient_error(consortium, v.rotate(5), np.roll(x, -5))}
    y, ideal = v, x
    for _ in range(FAST.depth):
        y, ideal = y * v, ideal * x
    errors["three products"] = coefficient_error(consortium, y, ideal)
    assert max(errors.values()) < COEFFICIENT_ERROR_BOUND, errors


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_flooding_costs_no_level_on_any_preset(name: str) -> None:
    params = PRESETS[name]
    sigma = flooding_sigma(params)
    assert sigma == COEFFICIENT_ERROR_BOUND * math.sqrt(
        params.poly_modulus_degree * DEFAULT_MAX_DECRYPTIONS)
    q0_half = 2.0 ** (params.data_bits[0] - 1)
    assert 6 * sigma * math.sqrt(16) < q0_half * 2.0**-10  # 16 holders, six sigma
    with pytest.raises(ParameterError):
        flooding_sigma(params, 0)
