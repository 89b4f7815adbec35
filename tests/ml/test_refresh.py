"""The refresh protocol's shared constants and the cloud side's checks (the key service side is
tests/owner/test_keyservice.py)."""

from __future__ import annotations

import numpy as np
import pytest

from hedge.ckks import KeySet, preset
from hedge.ckks.multiparty import Flooding, LocalConsortium
from hedge.errors import DepthExhaustedError, ParameterError
from hedge.ml.layout import RowLayout
from hedge.ml.refresh import (
    MASK_RANGE,
    REFRESH_BOUND,
    collective_refresh_tiled,
    refresh_level,
    refresh_tiled,
)


@pytest.mark.parametrize(("name", "level"), [("fast", 1), ("standard", 0), ("deep", 0)])
def test_refreshes_travel_at_the_lowest_level_that_holds_the_masked_values(
        name: str, level: int) -> None:
    params = preset(name)
    assert refresh_level(params) == level
    assert params.magnitude_at(level) >= 2 * REFRESH_BOUND > REFRESH_BOUND >= 2 * MASK_RANGE
    assert level == 0 or params.magnitude_at(level - 1) < 2 * REFRESH_BOUND


class _Unreachable:
    """A refresh client the cloud side must not reach."""

    def refresh(self, job_id: str, masked: bytes) -> bytes:
        raise AssertionError("nothing should be sent")


def test_weights_too_low_for_the_cut_are_refused_before_anything_is_sent() -> None:
    keys = KeySet.generate("fast", rotations=[])
    layout = RowLayout(5, keys.params.slot_count)
    w = keys.public().encrypt(layout.tile(np.ones(5))).at_level(1)
    with pytest.raises(DepthExhaustedError, match="cutting the weights out"):
        refresh_tiled(_Unreachable(), "job", w, layout)
    with pytest.raises(ParameterError, match="scale must be a positive number"):
        refresh_tiled(_Unreachable(), "job", w, layout, scale=float("nan"))


def test_a_collective_refresh_brings_tiled_weights_back_to_the_top() -> None:
    consortium = LocalConsortium.generate(preset("fast"), ["owner", "plant-1"], rotations=[])
    layout = RowLayout(5, consortium.params.slot_count)
    x = np.array([0.5, -0.25, 0.125, 1.0, -1.0])
    w = consortium.bundle.encrypt(layout.tile(x)).at_level(2)
    fresh = collective_refresh_tiled(consortium, w, layout, scale=2.0)
    assert fresh.level == consortium.params.depth and fresh.length == w.length
    noise = Flooding(released=5).slot_noise(consortium.params, 2)
    got = consortium.decrypt(fresh, flooding=1.0)
    assert np.abs(got - layout.tile(2.0 * x)).max() < 6 * noise
    with pytest.raises(DepthExhaustedError, match="cutting the weights out"):
        collective_refresh_tiled(consortium, w.at_level(1), layout)
