"""t-of-n: any t holders decrypt; t - 1 get noise."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from hedge.ckks import preset
from hedge.ckks.multiparty import LocalConsortium, combine, decryption_share
from hedge.ckks.multiparty.threshold import ThresholdShare, deal
from hedge.errors import ParameterError

FAST = preset("fast")
NAMES = ("owner", "plant-1", "plant-2", "guardian")


@pytest.fixture(scope="module")
def shared() -> tuple[LocalConsortium, list[ThresholdShare]]:
    consortium = LocalConsortium.generate(FAST, NAMES, rotations=[1])
    dealt = [deal(k, len(NAMES), 3) for k in consortium.shares.values()]  # 3 of 4
    points = [ThresholdShare.from_dealt(FAST, j, [d[j] for d in dealt])
              for j in range(len(NAMES))]
    return consortium, points


def test_any_three_of_four_decrypt(shared: tuple[LocalConsortium, list[ThresholdShare]]) -> None:
    consortium, points = shared
    x = np.linspace(-1, 1, 64)
    ct = (consortium.bundle.encrypt(x) * 0.5).ciphertexts[0]
    for active in itertools.combinations(range(len(NAMES)), 3):
        shares = [decryption_share(points[j].for_set(active, 3), NAMES[j], ct, 1.0)
                  for j in active]
        got = combine(FAST, ct, shares, [NAMES[j] for j in active])[:64]
        assert np.abs(got - 0.5 * x).max() < 1e-5, active


def test_two_of_four_learn_nothing(shared: tuple[LocalConsortium, list[ThresholdShare]]) -> None:
    consortium, points = shared
    bits = np.random.default_rng(3).integers(0, 2, FAST.slot_count)
    ct = consortium.bundle.encrypt(bits - 0.5).ciphertexts[0]
    active = (0, 2)
    # the best two holders can do: their Lagrange-weighted points as if t were 2
    shares = [decryption_share(points[j].for_set(active, 2), NAMES[j], ct, 1.0) for j in active]
    got = combine(FAST, ct, shares, [NAMES[j] for j in active])
    assert 0.45 < np.mean((got > 0) == (bits == 1)) < 0.55


def test_bad_sets_and_thresholds_are_refused(
        shared: tuple[LocalConsortium, list[ThresholdShare]]) -> None:
    consortium, points = shared
    with pytest.raises(ParameterError, match="exactly 3 distinct"):
        points[0].for_set((1, 2, 3), 3)
    with pytest.raises(ParameterError, match="exactly 3 distinct"):
        points[0].for_set((0, 0, 1), 3)
    with pytest.raises(ParameterError, match="for_set"):
        points[0].decryption_residues(2)
    with pytest.raises(ParameterError, match="threshold of 5"):
        deal(consortium.shares["owner"], 4, 5)
