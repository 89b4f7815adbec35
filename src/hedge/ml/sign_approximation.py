"""Composite polynomial approximation of sign(t) on [-1, 1], for comparisons under encryption.

A single low-degree polynomial cannot approximate a step; a composition of odd degree-7
polynomials can (Cheon, Kim and Kim, "Efficient homomorphic comparison methods with optimal
complexity", ASIACRYPT 2020):

* g (their g_3): expands small inputs fast (slope 4.48 at 0) and maps [a, 1] into [3/4, 1];
* f (their f_3, f_n(t) = sum_i C(2i, i) / 4^i * t (1 - t^2)^i): slope 35/16 at 0, and cleans a
  value near 1 up to within ~(1 - t)^4 of 1.

Each stage costs depth 3 in `EncryptedVector.polyval`. `SignApproximation.for_levels(levels)`
uses as many stages as fit: g first, then one f (two from four stages on). The approximation is
only meaningful for |t| <= 1; beyond about 1.35 the stages diverge, so inputs must be scaled by a
true bound. Its quality is stated, not assumed: `error(delta)` is the largest deviation from
sign(t) over delta <= |t| <= 1, measured on a dense grid of the composite itself.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hedge.errors import DepthExhaustedError

__all__ = ["SIGN_STAGE_DEPTH", "SignApproximation"]

_G = np.array([0.0, 4589.0, 0.0, -16577.0, 0.0, 25614.0, 0.0, -12860.0]) / 1024.0
_F = np.array([0.0, 35.0, 0.0, -35.0, 0.0, 21.0, 0.0, -5.0]) / 16.0
SIGN_STAGE_DEPTH = 3
_GRID = np.linspace(0.0, 1.0, 2**17 + 1)


@dataclass(frozen=True)
class SignApproximation:
    """sign(t) ~ stages[-1](... stages[0](t)), each stage an odd polynomial of degree 7."""

    stages: tuple[tuple[float, ...], ...]

    @classmethod
    def for_levels(cls, levels: int) -> SignApproximation:
        """The strongest composite that fits `levels` (at least two stages: depth 6)."""
        count = levels // SIGN_STAGE_DEPTH
        if count < 2:
            raise DepthExhaustedError("a sign approximation (two degree-7 stages)",
                                      2 * SIGN_STAGE_DEPTH, levels)
        cleanups = 1 if count < 4 else 2
        stages = [_G] * (count - cleanups) + [_F] * cleanups
        return cls(tuple(tuple(float(c) for c in s) for s in stages))

    @property
    def depth(self) -> int:
        return SIGN_STAGE_DEPTH * len(self.stages)

    def __call__(self, t: np.ndarray) -> np.ndarray:
        """The plaintext twin: the same composite in float64."""
        out: np.ndarray = np.asarray(t, dtype=np.float64)
        for stage in self.stages:
            out = np.polynomial.polynomial.polyval(out, stage)
        return out

    def envelope(self, t: np.ndarray) -> np.ndarray:
        """For each t, max |p(s) - sign(s)| over |t| <= |s| <= 1 (non-increasing in |t|; p is
        odd, so the positive half suffices). Read off a grid of step 2^-17 rounded down."""
        deviation = np.abs(self(_GRID) - 1.0)
        deviation[0] = 1.0  # sign(0) is taken as +-1: the step's whole height
        suffix_max = np.maximum.accumulate(deviation[::-1])[::-1]
        index = np.floor(np.clip(np.abs(np.asarray(t, dtype=np.float64)), 0.0, 1.0)
                         * (_GRID.size - 1)).astype(np.int64)
        return np.asarray(suffix_max[index])

    def error(self, delta: float) -> float:
        """max |p(t) - sign(t)| over delta <= |t| <= 1."""
        return float(self.envelope(np.array([delta]))[0])

    def max_slope(self) -> float:
        """max |p'(t)| over |t| <= 1 (at 0, where the composite is steepest): how much it
        amplifies an error of its input, e.g. the CKKS error of a row's margin."""
        values = self(_GRID)
        return float(np.max(np.abs(np.diff(values))) / (_GRID[1] - _GRID[0]))

    def peak(self) -> float:
        """max |p(t)| over |t| <= 1: a row's contribution never exceeds it."""
        return float(np.max(np.abs(self(_GRID))))
