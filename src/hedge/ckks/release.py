"""Release decryption: decrypt values that leave the owner, with noise flooding and rounding.

Why: a CKKS decryption result is message + error, and the error depends on the secret key; handing
exact decryptions to someone who also holds the ciphertexts lets them recover the key
(Li and Micciancio, EUROCRYPT 2021). Values that leave the owner (models, released aggregates)
therefore get Gaussian noise added, sized from the ciphertext's error, and are rounded.

Error bound: `t` is a *public* bound on the error of an honestly computed ciphertext, fixed in
advance (default DEFAULT_ERROR_BOUND = 2^-16 ~ 1.5e-5, above every error the engine's tests and
benchmarks measure: at most 8e-6, for a sum over 16384 slots at N=32768). Nothing about the
noise depends on the decryption itself: a noise size read off the decrypted error would be an
oracle on the secret key.

Flooding: sigma = t * sqrt(q * n), for n released values per release and at most q releases
under the key set (the budget the key set counts; `PolicyError` once it is spent). Argument
(Renyi divergence of order 2, search problems): compare the released values m + e + N(0, sigma^2)
with a simulation m + N(0, sigma^2) that needs no key. Per value the divergence is
exp(e^2 / sigma^2) <= exp(t^2 / sigma^2), over q * n values at most e. Any key recovery that
succeeds with probability eps from the releases succeeds with at least eps^2 / e from the
simulation, which holds no key information: a 128-bit problem keeps about 64 bits. The argument
covers honestly computed ciphertexts (error <= t); releasing ciphertexts crafted by an adversary
is outside it, so the owner releases only results of registered jobs. Values are rounded to a
power-of-two grid no finer than sigma (post-processing: no security cost).
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import numpy as np

from hedge.errors import ParameterError

if TYPE_CHECKING:
    from hedge.ckks.keys import KeySet
    from hedge.ckks.vector import EncryptedVector

__all__ = ["DEFAULT_MAX_RELEASES", "Release", "Releases", "release"]

#: Public bound on the error of honestly computed ciphertexts (t).
DEFAULT_ERROR_BOUND = 2.0**-16

#: Releases under one key set the flooding is sized for (q), counted by the key set.
DEFAULT_MAX_RELEASES = 2**16


class Releases(Protocol):
    """What decrypts a result for release: a `KeySet` (the budget counted in memory), the
    owner's `hedge.owner.releases.Releaser` (counted on disk under a lock, audited) or, for
    exact values that never leave the owner, `hedge.ckks.hazmat.ExactReleases`."""

    @property
    def max_releases(self) -> int: ...

    def release(self, vector: EncryptedVector, *, error_bound: float = ...,
                indices: Sequence[int] | None = ...) -> Release: ...

    def noise_sigma(self, error_bound: float, released: int) -> float: ...


@dataclass(frozen=True)
class Release:
    """Values fit to leave the owner, with the figures that describe their precision."""

    values: np.ndarray
    error_bound: float
    noise_sigma: float
    step: float
    max_releases: int


def standard_normal(n: int) -> np.ndarray:
    """Standard normal samples from the operating system's CSPRNG (Box-Muller)."""
    raw = np.frombuffer(os.urandom(16 * n), dtype=np.uint64).reshape(2, n)
    u1 = (raw[0] >> np.uint64(11)).astype(np.float64) + 1.0
    u2 = (raw[1] >> np.uint64(11)).astype(np.float64)
    u1 /= 2.0**53 + 1.0
    u2 /= 2.0**53
    return np.asarray(np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * np.pi * u2))


def uniform(n: int, bound: float) -> np.ndarray:
    """n values uniform in [-bound, bound] from the operating system's CSPRNG (53-bit
    resolution): the masks of the refresh protocols."""
    raw = np.frombuffer(os.urandom(8 * n), dtype=np.uint64)
    return np.asarray((raw >> np.uint64(11)).astype(np.float64) / 2.0**53 * 2 - 1) * bound


def flooding_sigma(error_bound: float, released: int, max_releases: int) -> float:
    """Standard deviation of the flooding noise for `released` values per release."""
    return error_bound * math.sqrt(max_releases * released)


def check_indices(indices: Sequence[int] | None, length: int) -> None:
    """`ParameterError` unless `indices` is None or distinct positions among `length` values."""
    if indices is not None and (not indices or len(set(indices)) != len(indices) or any(
            isinstance(i, bool) or not isinstance(i, int) or not 0 <= i < length
            for i in indices)):
        raise ParameterError(f"indices must be distinct positions in the vector's {length} "
                             "values")


def rounded(flooded: np.ndarray, error_bound: float, sigma: float,
            max_releases: int) -> Release:
    """Flooded values rounded to a power-of-two grid no finer than their noise `sigma`
    (post-processing: no security cost), as a `Release`."""
    step = 2.0 ** math.floor(math.log2(sigma))
    return Release(np.round(flooded / step) * step, error_bound, sigma, step, max_releases)


def release(keys: KeySet, vector: EncryptedVector, *,
            error_bound: float = DEFAULT_ERROR_BOUND,
            indices: Sequence[int] | None = None) -> Release:
    """Decrypt `vector` for release: add public, fixed flooding noise and round. With
    `indices`, only those values are released (in that order), and the noise is sized for
    them alone: the others are decrypted inside and dropped, they never leave the owner.

    Spends one release of the key set's budget (`PolicyError` when none is left)."""
    if not (math.isfinite(error_bound) and error_bound > 0):
        raise ParameterError("error_bound must be a positive number")
    check_indices(indices, vector.length)
    keys.spend_release()
    values = keys._decrypt(vector)
    if indices is not None:
        values = values[list(indices)]
    sigma = keys.noise_sigma(error_bound, values.size)
    return rounded(values + sigma * standard_normal(values.size), error_bound, sigma,
                   keys.max_releases)
