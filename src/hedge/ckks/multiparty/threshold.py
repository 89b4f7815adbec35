"""t-of-n: any t holders decrypt, fewer learn nothing (Shamir sharing of the holders' shares,
as in Mouchet, Bossuat, Troncoso-Pastoriza, Hubaux, "Multiparty homomorphic encryption: from
theory to practice", and Lattigo's `multiparty` threshold protocols).

After the n-of-n key generation each holder i deals its secret s_i with Shamir's scheme over
the ring, residue by residue: f_i(x) = s_i + r_1 x + ... + r_{t-1} x^{t-1} with uniform
polynomials r_k, and sends f_i(x_j) to holder j (x_j = j + 1, public). Holder j keeps only the
sum S_j = sum_i f_i(x_j), a point on F = sum_i f_i, whose value at 0 is s. For a set T of t
holders the Lagrange coefficients l_j = prod_{k in T, k != j} x_k / (x_k - x_j) mod each prime
give s = sum_{j in T} l_j S_j, so holder j's decryption share is c1 (l_j S_j) + E_j and the
combination is the n-of-n one over T. Fewer than t points of F are uniformly distributed and
say nothing of s. The dealt points travel like decryption shares: sealed to their recipient.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

from hedge.ckks.multiparty import _rns
from hedge.ckks.multiparty.keygen import KeyShare, sum_shares
from hedge.ckks.multiparty.ring import Ring, ring_for
from hedge.ckks.params import Parameters
from hedge.errors import ParameterError

__all__ = ["ThresholdShare", "deal"]


def _point(index: int) -> int:
    return index + 1


def deal(share: KeyShare, holders: int, threshold: int) -> list[np.ndarray]:
    """f_i(x_j) for j = 0..holders-1: what holder i sends to each holder (itself included)."""
    if not 1 <= threshold <= holders:
        raise ParameterError(f"a threshold of {threshold} needs 1 <= t <= {holders} holders")
    ring = share.ring
    q = ring.key_column
    secret = share.decryption_residues(len(ring.key_primes))
    seed = os.urandom(32)
    coefficients = [_rns.uniform_ntt(seed, b"shamir/%d" % k, ring.key_primes, ring.n)
                    for k in range(1, threshold)]
    out = []
    for j in range(holders):
        x = np.uint64(_point(j))
        value = np.zeros_like(secret)
        for c in reversed(coefficients):  # Horner: ((r_{t-1} x + r_{t-2}) x + ...) x + s
            value = _rns.mulmod(_rns.addmod(value, c, q), np.broadcast_to(x, value.shape), q)
        out.append(_rns.addmod(value, secret, q))
    return out


def _lagrange(ring: Ring, active: Sequence[int], j: int) -> np.ndarray:
    """l_j for the set `active` (holder indices), mod each key prime: a [primes, 1] column."""
    values = []
    for q in ring.key_primes:
        num, den = 1, 1
        for k in active:
            if k != j:
                num = num * _point(k) % q
                den = den * (_point(k) - _point(j)) % q
        values.append(num * pow(den, -1, q) % q)
    return np.asarray(values, dtype=np.uint64).reshape(-1, 1)


class ThresholdShare:
    """Holder `index`'s point S_j of the shared secret; `for_set` makes it a decryption key
    for one set of t holders (what `decryption.decryption_share` takes)."""

    def __init__(self, params: Parameters, index: int, point: np.ndarray) -> None:
        self.params, self.index, self.ring = params, index, ring_for(params)
        self._point = point
        self._scaled: np.ndarray | None = None

    @property
    def point(self) -> np.ndarray:
        """S_j: [key primes, N] residues (what a holder's keystore keeps)."""
        return self._point

    @classmethod
    def from_dealt(cls, params: Parameters, index: int,
                   received: Sequence[np.ndarray]) -> ThresholdShare:
        """Sum the points every holder dealt to holder `index`."""
        return cls(params, index, sum_shares(params, list(received)))

    def for_set(self, active: Sequence[int], threshold: int) -> ThresholdShare:
        """This share weighted by its Lagrange coefficient for `active` (exactly t distinct
        holder indices, this one among them)."""
        if len(active) != threshold or len(set(active)) != threshold or self.index not in active:
            raise ParameterError(f"a decryption needs exactly {threshold} distinct holders, "
                                 f"holder {self.index} among them; got {list(active)}")
        out = ThresholdShare(self.params, self.index, self._point)
        out._scaled = _rns.mulmod(self._point, np.broadcast_to(
            _lagrange(self.ring, active, self.index), self._point.shape), self.ring.key_column)
        return out

    def decryption_residues(self, primes: int) -> np.ndarray:
        if self._scaled is None:
            raise ParameterError("choose the set of holders first (for_set)")
        return self._scaled[:primes]
