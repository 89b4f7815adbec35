"""The refresh protocol's shared constants and the cloud side's checks (the key service side is
tests/owner/test_keyservice.py)."""

from __future__ import annotations

import numpy as np
import pytest

from hedge.ckks import KeySet, preset
from hedge.errors import DepthExhaustedError, ParameterError
from hedge.ml.layout import RowLayout
from hedge.ml.refresh import MASK_RANGE, REFRESH_BOUND, refresh_level, refresh_tiled


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
