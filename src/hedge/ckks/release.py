"""Release decryption: decrypt values that leave the owner, with noise flooding and rounding.

Why: a CKKS decryption result is message + error, and the error depends on the secret key; handing
exact decryptions to someone who also holds the ciphertexts lets them recover the key
(Li and Micciancio, EUROCRYPT 2021). Values that leave the owner (models, released aggregates)
therefore get Gaussian noise added, sized from the ciphertext's error, and are rounded.

Error estimate: hedge encrypts only real values, so the imaginary part of every decoded slot is
pure error with about the same spread as the error in the real part. The real part can have a
heavier tail (measured after a rotation: largest real error 2.9x the largest imaginary one), so
`t` is ERROR_MARGIN (8) times the largest imaginary magnitude over all slots of all ciphertexts
(at least 2^-scale_bits); tests check that `t` bounds the actual error after every operation.

Flooding: sigma = t * sqrt(2 * pi * q * n), for n released slots and at most q releases of
ciphertexts under the same key. By the Renyi-divergence argument for search problems (order 2),
the divergence between released and exact decryptions over all q releases is at most e, so any key
recovery that succeeds with probability eps from flooded values would succeed with probability at
least eps^2 / e from exact ones: a 128-bit problem keeps about 64 bits against these releases.
The precision cost is sigma (typically 1e-5..1e-3 at scale 2^40); values are rounded to a grid
no finer than sigma, which is post-processing and costs no security.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from hedge.ckks.keys import KeySet
    from hedge.ckks.vector import EncryptedVector

__all__ = ["DEFAULT_MAX_RELEASES", "Release", "release"]

#: Factor between the largest imaginary-part error and the error bound used for flooding.
ERROR_MARGIN = 8.0

#: Releases under one key set the flooding is sized for (q).
DEFAULT_MAX_RELEASES = 2**16


@dataclass(frozen=True)
class Release:
    """Values fit to leave the owner, with the figures that describe their precision."""

    values: np.ndarray
    error_estimate: float
    noise_sigma: float
    step: float
    max_releases: int


def _gaussian(n: int) -> np.ndarray:
    """Standard normal samples from the operating system's CSPRNG (Box-Muller)."""
    raw = np.frombuffer(os.urandom(16 * n), dtype=np.uint64).reshape(2, n)
    u1 = (raw[0] >> np.uint64(11)).astype(np.float64) + 1.0
    u2 = (raw[1] >> np.uint64(11)).astype(np.float64)
    u1 /= 2.0**53 + 1.0
    u2 /= 2.0**53
    return np.asarray(np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * np.pi * u2))


def flooding_sigma(error: float, released: int, max_releases: int) -> float:
    """Standard deviation of the flooding noise for `released` slots per release."""
    return error * math.sqrt(2.0 * math.pi * max_releases * released)


def release(keys: KeySet, vector: EncryptedVector, *,
            max_releases: int = DEFAULT_MAX_RELEASES) -> Release:
    """Decrypt `vector` for release: estimate its error, add flooding noise, round."""
    if max_releases < 1:
        raise ValueError("max_releases must be at least 1")
    slots = keys.decrypt_complex_slots(vector)
    floor = 2.0 ** -keys.params.scale_bits
    error = max(floor, ERROR_MARGIN * max(float(np.max(np.abs(s.imag))) for s in slots))
    values = np.concatenate([s.real for s in slots])[: vector.length]
    sigma = flooding_sigma(error, values.size, max_releases)
    step = 2.0 ** math.floor(math.log2(sigma))
    flooded = values + sigma * _gaussian(values.size)
    return Release(np.round(flooded / step) * step, error, sigma, step, max_releases)
