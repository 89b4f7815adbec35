"""Exact arithmetic on RNS polynomials in NTT form, the common reference polynomial, and noise.

In NTT form a polynomial mod Q = q_0 ... q_k is one row of N residues per prime, and ring
multiplication is pointwise: so every protocol step is `mulmod`/`addmod` on uint64 arrays of
shape [..., primes, N] with the primes as a [primes, 1] column. `mulmod` is exact for primes
below 2^62: the quotient floor(a*b/q) is estimated in x87 extended precision (64-bit mantissa,
so the estimate is off by at most one either way) and the remainder a*b - quotient*q computed
exactly in wrapping 64-bit integers (the long-double method of NTL's MulMod); the tests check
it against Python's integers.

Randomness: the common reference polynomials come from SHAKE-256 of a public seed, sampled
uniformly mod each prime by rejection, directly in NTT form (the NTT is a bijection, so a
uniform NTT-form polynomial is a uniform polynomial). Secret polynomials and small errors come
from SEAL's own samplers (fresh secret keys, and the error of a fresh public key under a
throw-away secret); the large flooding noise
of decryption shares is a rounded Gaussian from the operating system's CSPRNG, put in NTT form
by SEAL's own transform.
"""

from __future__ import annotations

import hashlib

import numpy as np

from hedge.ckks.release import standard_normal
from hedge.errors import ParameterError

__all__ = ["addmod", "centered", "mulmod", "negmod", "submod", "uniform_ntt"]

if np.finfo(np.longdouble).nmant < 63:  # pragma: no cover - x86-64 and aarch64 both qualify
    raise ImportError("hedge.ckks.multiparty needs a long double of at least 64-bit mantissa")

_MAX_PRIME = 1 << 62


def column(primes: list[int] | tuple[int, ...]) -> np.ndarray:
    """The primes as a [primes, 1] uint64 column, for broadcasting against [..., primes, N]."""
    if any(not 2 <= q < _MAX_PRIME for q in primes):
        raise ParameterError("RNS primes must lie in [2, 2^62)")
    return np.asarray(primes, dtype=np.uint64).reshape(-1, 1)


def mulmod(a: np.ndarray, b: np.ndarray, q: np.ndarray) -> np.ndarray:
    """a * b mod q, exactly, for residues a, b < q < 2^62 (uint64, broadcastable)."""
    ql = q.astype(np.longdouble)
    quotient = np.floor(a.astype(np.longdouble) * b.astype(np.longdouble) / ql).astype(np.uint64)
    signed = (a * b - quotient * q).astype(np.int64)  # exact mod 2^64, within (-2q, 2q)
    qi = q.astype(np.int64)
    signed = np.where(signed < 0, signed + qi, signed)
    signed = np.where(signed >= qi, signed - qi, signed)
    return np.asarray(signed.astype(np.uint64))


def addmod(a: np.ndarray, b: np.ndarray, q: np.ndarray) -> np.ndarray:
    """a + b mod q for residues below q < 2^62."""
    s = a + b
    return np.asarray(np.where(s >= q, s - q, s))


def negmod(a: np.ndarray, q: np.ndarray) -> np.ndarray:
    """-a mod q."""
    return np.asarray(np.where(a == 0, a, q - a))


def submod(a: np.ndarray, b: np.ndarray, q: np.ndarray) -> np.ndarray:
    """a - b mod q."""
    return addmod(a, negmod(b, q), q)


def from_signed(values: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Signed integers (int64, shape [..., N]) as residues mod each prime: [..., primes, N]."""
    v = values[..., np.newaxis, :].astype(np.int64)
    qi = q.astype(np.int64)
    return np.mod(v, qi).astype(np.uint64)


def centered(residues: np.ndarray, q: int) -> np.ndarray:
    """Residues mod one prime as signed integers in (-q/2, q/2] (int64)."""
    r = residues.astype(np.int64)
    return np.asarray(np.where(r > q // 2, r - np.int64(q), r))


def uniform_ntt(seed: bytes, label: bytes, primes: list[int], n: int) -> np.ndarray:
    """A polynomial uniform mod each prime, from SHAKE-256(seed, label), shape [primes, n].

    Deterministic: every party derives the same polynomial from the public seed. Rejection
    sampling on bit-masked 64-bit words (each word accepted with probability over 1/2)."""
    if len(seed) < 16:
        raise ParameterError("a common reference seed needs at least 16 bytes")
    out = np.empty((len(primes), n), dtype=np.uint64)
    for i, q in enumerate(primes):
        mask = np.uint64((1 << q.bit_length()) - 1)
        xof = hashlib.shake_256(b"hedge-crs-v1" + len(seed).to_bytes(2, "little") + seed
                                + label + i.to_bytes(2, "little"))
        words = 4 * n
        while True:
            raw = np.frombuffer(xof.digest(8 * words), dtype="<u8") & mask
            accepted = raw[raw < np.uint64(q)]
            if accepted.size >= n:
                out[i] = accepted[:n]
                break
            words *= 2  # SHAKE output extends: a longer digest starts with the shorter one
    return out


def gaussian_integers(n: int, sigma: float) -> np.ndarray:
    """n rounded Gaussian integers of standard deviation `sigma` from the OS CSPRNG (int64)."""
    if not (0 < sigma < 2.0**50):
        raise ParameterError("flooding sigma must lie in (0, 2^50)")
    return np.rint(standard_normal(n) * sigma).astype(np.int64)
