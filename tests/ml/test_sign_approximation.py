"""The composite sign approximation: shape, depth, and the envelope its error bound rests on."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from hedge.errors import DepthExhaustedError
from hedge.ml.sign_approximation import SIGN_STAGE_DEPTH, SignApproximation

STANDARD = SignApproximation.for_levels(6)
DEEP = SignApproximation.for_levels(17)


def test_stages_follow_the_levels() -> None:
    assert len(STANDARD.stages) == 2 and STANDARD.depth == 2 * SIGN_STAGE_DEPTH
    assert len(SignApproximation.for_levels(8).stages) == 2
    assert len(DEEP.stages) == 5 and DEEP.depth == 15
    with pytest.raises(DepthExhaustedError) as info:
        SignApproximation.for_levels(5)
    assert info.value.needed == 6 and info.value.available == 5


def test_stated_errors() -> None:
    # the figures docs/learning.md and hedge.ml.confusion state
    assert STANDARD.error(0.2) < 0.013
    assert STANDARD.error(0.1) < 0.22
    assert DEEP.error(0.005) < 0.007
    assert STANDARD.peak() <= 1.0 + 1e-9 and DEEP.peak() <= 1.0 + 1e-9


@given(st.floats(min_value=1e-4, max_value=1.0))
def test_odd_and_within_its_envelope(t: float) -> None:
    p = STANDARD(np.array([t, -t]))
    assert p[0] == pytest.approx(-p[1])
    # the grid envelope holds between grid points too (the composite is smooth at 2^-17)
    assert abs(p[0] - 1.0) <= STANDARD.envelope(np.array([t]))[0] + 1e-4


@given(st.floats(min_value=0.0, max_value=1.0), st.floats(min_value=0.0, max_value=1.0))
def test_envelope_does_not_increase(a: float, b: float) -> None:
    lo, hi = sorted((a, b))
    e = DEEP.envelope(np.array([lo, hi]))
    assert e[0] >= e[1]
