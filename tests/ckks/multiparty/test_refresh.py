"""Collective refresh: a masked vector comes back at the top level in its new layout, within the
flooding noise; the cloud's view is masked; missing or foreign shares are refused."""

from __future__ import annotations

import numpy as np
import pytest

from hedge.ckks import KeySet, preset
from hedge.ckks.multiparty import (
    MASKS_BOUND,
    Flooding,
    LocalConsortium,
    combine,
    combine_refresh,
    mask_range,
    masked_for_release,
    refresh_share,
)
from hedge.errors import KeyMismatchError, ParameterError
from tests.ckks.multiparty.conftest import HOLDERS

FAST = preset("fast")


def doubled(values: np.ndarray) -> np.ndarray:
    """A layout: the values twice, one after the other."""
    return np.concatenate([values, values])


def test_a_refresh_returns_the_values_at_the_top_level(consortium: LocalConsortium) -> None:
    x = np.random.default_rng(4).uniform(-1, 1, 9)
    low = consortium.bundle.encrypt(x).at_level(2)
    masked, flooding = masked_for_release(low)
    fresh = consortium.refresh(masked, doubled)
    assert fresh.level == FAST.depth and fresh.length == 18
    noise = flooding.slot_noise(FAST, len(HOLDERS))
    got = consortium.decrypt(fresh, flooding=1.0)
    assert np.abs(got - doubled(x)).max() < 6 * noise
    assert np.abs(got[:9] - got[9:]).max() < 1e-6  # one noise draw, laid out twice


def test_the_cloud_sees_only_masked_values(consortium: LocalConsortium) -> None:
    bits = np.random.default_rng(5).integers(0, 2, 2000) - 0.5
    masked, flooding = masked_for_release(consortium.bundle.encrypt(bits))
    shares = [refresh_share(consortium.shares[h], h, consortium.bundle, masked, len(HOLDERS),
                            doubled, flooding) for h in HOLDERS]
    seen = combine(FAST, masked.ciphertexts[0], [s.decryption for s in shares], HOLDERS)[:2000]
    assert np.median(np.abs(seen)) > mask_range(FAST, masked.level, 3) / 8
    assert 0.45 < np.mean((seen > 0) == (bits > 0)) < 0.55  # no better than chance
    back = combine_refresh(consortium.bundle, masked, shares, HOLDERS, doubled)
    noise = flooding.slot_noise(FAST, len(HOLDERS))  # 0.027 for 2000 values
    assert np.abs(consortium.decrypt(back, flooding=1.0)[:2000] - bits).max() < 6 * noise


def test_missing_and_foreign_refresh_shares_are_refused(consortium: LocalConsortium) -> None:
    masked, flooding = masked_for_release(consortium.bundle.encrypt([0.5, 0.25]))
    shares = [refresh_share(consortium.shares[h], h, consortium.bundle, masked, len(HOLDERS),
                            doubled, flooding) for h in HOLDERS]
    with pytest.raises(KeyMismatchError, match="missing: plant-2"):
        combine_refresh(consortium.bundle, masked, shares[:2], HOLDERS, doubled)
    other = KeySet.generate("fast", rotations=[]).public()
    foreign = [*shares[:2], type(shares[2])(shares[2].holder, shares[2].decryption,
                                             other.encrypt(doubled(np.zeros(2))))]
    with pytest.raises(KeyMismatchError, match="another key set"):
        combine_refresh(consortium.bundle, masked, foreign, HOLDERS, doubled)
    with pytest.raises(ParameterError, match="one ciphertext under this consortium"):
        refresh_share(consortium.shares["owner"], "owner", other, masked, 3, doubled, flooding)


def test_each_holders_mask_leaves_room_for_the_others() -> None:
    standard = preset("standard")
    assert mask_range(standard, 0, 4) == pytest.approx((2.0**16 - 2.0**8) / 4)
    assert 4 * mask_range(standard, 0, 4) + 2.0**8 <= standard.magnitude_at(0) / 2
    assert mask_range(FAST, 1, 4) == MASKS_BOUND / 4  # the float64 bound, not the capacity
    with pytest.raises(ParameterError, match="higher level"):
        mask_range(standard, 0, 64)
    with pytest.raises(ParameterError, match="higher level"):
        mask_range(FAST, 0, 2)
    assert Flooding(released=9).released == 9
