"""Doubled-row layout and the sigmoid polynomial."""

from __future__ import annotations

import numpy as np
import pytest

from hedge.errors import ShapeError
from hedge.ml import RowLayout, sigmoid_polynomial


def test_doubled_rows_make_row_sums_cyclic() -> None:
    layout = RowLayout(columns=5, slots=64)
    assert (layout.width, layout.stride, layout.rows_per_block) == (8, 16, 4)
    z = np.arange(1, 31, dtype=float).reshape(6, 5)
    doubled, first = layout.pack_doubled(z), layout.pack_first(z)
    assert len(doubled) == layout.blocks(6) == 2
    w = np.linspace(-1, 1, 5)
    # rotate-and-sum in plaintext, exactly as the encrypted code does
    s = doubled[0] * layout.tile(w)
    for step in layout.row_sum_steps():
        s = s + np.roll(s, -step)
    rows = s.reshape(4, 16)[:, :8]
    assert np.allclose(rows, (z[:4] @ w)[:, None])  # every first-half slot holds z_i . w
    assert np.array_equal(first[1].reshape(4, 16)[2:], np.zeros((2, 16)))  # padding rows
    assert np.array_equal(first[0].reshape(4, 16)[:, 8:], np.zeros((4, 8)))


def test_layout_rotation_steps_and_errors() -> None:
    layout = RowLayout(10, 8192)
    assert layout.row_sum_steps() == [1, 2, 4, 8]
    assert layout.column_sum_steps() == [32, 64, 128, 256, 512, 1024, 2048, 4096]
    assert -16 in layout.rotation_steps()
    with pytest.raises(ShapeError):
        RowLayout(5000, 8192)
    with pytest.raises(ShapeError):
        layout.pack_doubled(np.ones((3, 4)))


@pytest.mark.parametrize(("degree", "bound", "max_error"), [(3, 6.0, 0.09), (5, 8.0, 0.07),
                                                              (7, 8.0, 0.032)])
def test_sigmoid_polynomial_fits_on_its_range(degree: int, bound: float,
                                              max_error: float) -> None:
    c = sigmoid_polynomial(degree, bound)
    t = np.linspace(-bound, bound, 1001)
    approx = np.polynomial.polynomial.polyval(t, c)
    assert np.max(np.abs(approx - 1 / (1 + np.exp(-t)))) < max_error
    assert c[0] == 0.5 and np.all(c[2::2] == 0)
    with pytest.raises(ValueError):
        sigmoid_polynomial(4)
