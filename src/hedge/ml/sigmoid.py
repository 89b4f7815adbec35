"""Polynomial approximations of the logistic function for encrypted evaluation."""

from __future__ import annotations

import numpy as np

__all__ = ["sigmoid_polynomial"]


def sigmoid_polynomial(degree: int = 3, bound: float = 6.0) -> np.ndarray:
    """Least-squares fit of 1 / (1 + e^-t) on [-bound, bound] by 0.5 + odd powers of t.

    Returns coefficients in increasing order (c0 = 0.5, even terms zero). Degree 3 costs depth 2
    in `EncryptedVector.polyval`; the fit error is at most 0.082 on [-6, 6] (largest at the
    ends) and the polynomial diverges outside the range, so inputs must stay within it.
    """
    if degree < 1 or degree % 2 == 0:
        raise ValueError("the degree must be odd and positive")
    if not (np.isfinite(bound) and bound > 0):
        raise ValueError(f"the bound must be a positive number, not {bound!r}")
    # fitted in u = t / bound on [-1, 1], where the powers are well conditioned whatever the
    # bound, then scaled back: the same least-squares polynomial, computed stably
    u = np.linspace(-1.0, 1.0, 4001)
    odd = np.arange(1, degree + 1, 2)
    design = u[:, None] ** odd[None, :]
    target = 1.0 / (1.0 + np.exp(-np.clip(bound * u, -700.0, 700.0))) - 0.5
    fitted, *_ = np.linalg.lstsq(design, target, rcond=None)
    coeffs = np.zeros(degree + 1)
    coeffs[0] = 0.5
    coeffs[odd] = fitted / float(bound) ** odd
    return coeffs
