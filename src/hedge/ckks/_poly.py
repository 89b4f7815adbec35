"""Depth-optimal polynomial evaluation on encrypted vectors.

p(x) = q(x) * x^(2^k) + r(x) with 2^k the largest power of two <= deg p, recursively, down to
linear leaves c0 + c1 x. With powers x^(2^i) by repeated squaring this uses
ceil(log2(d + 1)) levels for degree d, the minimum for generic coefficients.
Coefficients are folded into plaintext multiplications (no separate level for them).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from hedge.errors import ParameterError

if TYPE_CHECKING:
    from hedge.ckks.vector import EncryptedVector

# an evaluated sub-polynomial: a ciphertext list, or a plain constant
_Value = Any


def _trim(coeffs: Sequence[float]) -> list[float]:
    try:
        c = [float(x) for x in coeffs]
    except (TypeError, ValueError) as exc:
        raise ParameterError(f"polynomial coefficients must be real numbers: {exc}") from exc
    if not c:
        raise ParameterError("a polynomial needs at least one coefficient")
    while len(c) > 1 and c[-1] == 0.0:
        c.pop()
    return c


def _scalar_depth(c: float) -> int:
    return 0 if float(c).is_integer() else 1


def polyval_depth(coeffs: Sequence[float]) -> int:
    """Levels `polyval` consumes for these coefficients (increasing order)."""
    c = _trim(coeffs)
    d = len(c) - 1
    if d <= 0:
        return 0
    if d == 1:
        return _scalar_depth(c[1])
    k = d.bit_length() - 1
    high = _trim(c[2**k :])
    high_depth = k + _scalar_depth(high[0]) if len(high) == 1 else max(polyval_depth(high), k) + 1
    return max(high_depth, polyval_depth(c[: 2**k]))


def polyval(v: EncryptedVector, coeffs: Sequence[float]) -> EncryptedVector:
    c = _trim(coeffs)
    if not all(np.isfinite(c)):
        raise ParameterError("polynomial coefficients must be finite")
    depth = polyval_depth(c)
    v.engine.require_depth(f"polynomial of degree {len(c) - 1}", depth, v.level)
    result = _evaluate(c, {1: v})
    return v * 0 + result if isinstance(result, float) else result


def _power(powers: dict[int, EncryptedVector], e: int) -> EncryptedVector:
    """x^e for e a power of two, by repeated squaring (cached)."""
    if e not in powers:
        half = _power(powers, e // 2)
        powers[e] = half * half
    return powers[e]


def _evaluate(c: list[float], powers: dict[int, EncryptedVector],
              target: int | None = None) -> EncryptedVector | float:
    """Evaluate; `target` is the level the caller will add the result at, so that linear
    leaves land there in their one multiplication instead of needing a second to align."""
    c = _trim(c)
    d = len(c) - 1
    if d == 0:
        return c[0]
    x = powers[1]
    if d == 1:
        lands_lower = target is not None and target < x.level
        linear = x.scaled_to(c[1], target) if lands_lower else x * c[1]  # type: ignore[arg-type]
        return linear + c[0] if c[0] else linear
    k = d.bit_length() - 1
    high = _evaluate(c[2**k :], powers)
    product = _power(powers, 2**k) * high  # EncryptedVector * (EncryptedVector | float)
    low = _evaluate(c[: 2**k], powers, product.level)
    return product + low if not (isinstance(low, float) and low == 0.0) else product
