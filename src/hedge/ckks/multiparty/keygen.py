"""Distributed key generation without a dealer (Mouchet, Troncoso-Pastoriza, Bossuat, Hubaux,
"Multiparty Homomorphic Encryption from Ring-Learning-with-Errors", PoPETs 2021, section 4).

Each key holder i draws its own ternary secret s_i (SEAL's sampler) and never sends it; the
collective secret s = sum_i s_i exists nowhere. With a common reference polynomial a from a
public seed (`CommonReference`), the holders' shares add up to SEAL's own key formats:

* public key (one round): p_i = -a s_i + e_i; pk = (sum p_i, a).
* Galois key for element g (one round, per decomposition j of SEAL's RNS gadget
  w_j = P mod q_j on limb j): b_ij = -a_j s_i + e_ij + w_j sigma_g(s_i); key_j = (sum b_ij, a_j).
  The share comes out of SEAL's own Galois key generation for s_i, its random half swapped for
  a_j: b' + a' s_i = e + w_j sigma_g(s_i), so b_ij = b' + (a' - a_j) s_i.
* relinearisation key (two rounds, the paper's RKG protocol): round 1 each holder draws an
  ephemeral ternary u_i and sends h0_ij = -u_i a_j + w_j s_i + e0, h1_ij = s_i a_j + e1;
  round 2, on the sums h0_j, h1_j, it sends s_i h0_j + (u_i - s_i) h1_j + e2 + e3. The key is
  (sum of round 2, h1_j): b + h1 s = w_j s^2 + s e0 + u e1 + e2 + e3, a key switch from s^2.

What a holder reveals: RLWE samples under its secret with fresh errors (public-key, Galois and
round-1 shares) and, in round 2, samples under s_i and u_i - s_i; the paper proves the protocol
secure against a passive adversary corrupting all but one holder. The combined keys decrypt
nothing: decryption needs every holder (`hedge.ckks.multiparty.decryption`).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import seal

from hedge.ckks._engine import galois_element
from hedge.ckks.keys import PublicBundle
from hedge.ckks.multiparty import _layout, _rns
from hedge.ckks.multiparty.ring import Ring, ring_for
from hedge.ckks.params import Parameters
from hedge.errors import ParameterError

__all__ = ["CommonReference", "KeyShare", "RelinRound", "collective_bundle",
           "collective_galois_keys", "collective_public_key", "collective_relin_keys",
           "sum_round1", "sum_shares"]


@dataclass(frozen=True)
class CommonReference:
    """The public seed every holder derives the common polynomials from (SHAKE-256)."""

    params: Parameters
    seed: bytes

    @classmethod
    def fresh(cls, params: Parameters) -> CommonReference:
        return cls(params, os.urandom(32))

    def polynomial(self, label: bytes) -> np.ndarray:
        ring = ring_for(self.params)
        return _rns.uniform_ntt(self.seed, label, ring.key_primes, ring.n)

    def public_key_a(self) -> np.ndarray:
        return self.polynomial(b"pk")

    def relin_a(self) -> np.ndarray:
        """[decomposition, primes, N]: one polynomial per decomposition key."""
        d = ring_for(self.params).decomposition
        return np.stack([self.polynomial(b"rlk/%d" % j) for j in range(d)])

    def galois_a(self, step: int) -> np.ndarray:
        ring = ring_for(self.params)
        g = galois_element(step, ring.n)
        return np.stack([self.polynomial(b"gk/%d/%d" % (g, j)) for j in range(ring.decomposition)])


@dataclass
class RelinRound:
    """A relinearisation key round: round 1 carries h0 and h1, round 2 only `h0` (the holder's
    s_i h0 + (u_i - s_i) h1 + e), each of shape [decomposition, primes, N]."""

    h0: np.ndarray
    h1: np.ndarray | None = None


def sum_round1(params: Parameters, shares: Sequence[RelinRound]) -> RelinRound:
    """The summed round-1 shares (h0 and h1) every holder's round 2 takes."""
    if any(s.h1 is None for s in shares):
        raise ParameterError("a round-1 share carries h0 and h1")
    return RelinRound(sum_shares(params, [s.h0 for s in shares]),
                      sum_shares(params, [s.h1 for s in shares if s.h1 is not None]))


def sum_shares(params: Parameters, shares: Sequence[np.ndarray]) -> np.ndarray:
    """The sum mod each prime of key-level shares of one shape (at least one share)."""
    if not shares:
        raise ParameterError("no shares to combine")
    q = ring_for(params).key_column
    total = shares[0].copy()
    for s in shares[1:]:
        if s.shape != total.shape:
            raise ParameterError(f"a share of shape {s.shape} where {total.shape} was expected")
        total = _rns.addmod(total, s, q)
    return total


class KeyShare:
    """One key holder's secret share s_i: it stays in the holder's keystore, never sent."""

    def __init__(self, params: Parameters, secret: seal.SecretKey) -> None:
        self.params = params
        self.ring: Ring = ring_for(params)
        self.secret_key = secret
        self._s = self.ring.secret_residues(secret)

    @classmethod
    def generate(cls, params: Parameters) -> KeyShare:
        return cls(params, seal.KeyGenerator(ring_for(params).engine.context).secret_key())

    def _own_keygen(self) -> seal.KeyGenerator:
        return seal.KeyGenerator(self.ring.engine.context, self.secret_key)

    def public_key_share(self, crs: CommonReference) -> np.ndarray:
        """p_i = -a s_i + e_i, [primes, N] (from SEAL's own public key of s_i)."""
        q = self.ring.key_column
        p = _layout.parse_ciphertext(self._own_keygen().create_public_key().to_string()).polys
        return _rns.addmod(p[0], _rns.mulmod(_rns.submod(p[1], crs.public_key_a(), q),
                                             self._s, q), q)

    def galois_shares(self, crs: CommonReference, steps: Iterable[int]) -> dict[int, np.ndarray]:
        """b_ij per rotation step, each [decomposition, primes, N]."""
        steps = sorted(set(steps))
        if not steps:
            return {}
        keys = seal.GaloisKeys()
        self._own_keygen().create_galois_keys(list(steps), keys)
        rows = _layout.parse_kswitch(keys.to_string(), "Galois keys").keys
        q = self.ring.key_column
        out: dict[int, np.ndarray] = {}
        for step in steps:
            row = rows[self.ring.galois_index(step)]
            b = np.stack([k.polys[0] for k in row])
            a_own = np.stack([k.polys[1] for k in row])
            out[step] = _rns.addmod(b, _rns.mulmod(_rns.submod(a_own, crs.galois_a(step), q),
                                                   self._s, q), q)
        return out

    def relin_round1(self, crs: CommonReference) -> tuple[np.ndarray, RelinRound]:
        """Round 1: (the ephemeral u_i, which the holder keeps until round 2, and its share)."""
        ring, q = self.ring, self.ring.key_column
        d = ring.decomposition
        u = ring.secret_residues(seal.KeyGenerator(ring.engine.context).secret_key())
        a = crs.relin_a()
        e = ring.key_noise(2 * d)
        gadget = np.zeros_like(a)
        for j in range(d):
            gadget[j, j] = _rns.mulmod(self._s[j], ring.gadget[j], q[j])
        h0 = _rns.addmod(_rns.submod(gadget, _rns.mulmod(u, a, q), q), e[:d], q)
        h1 = _rns.addmod(_rns.mulmod(self._s, a, q), e[d:], q)
        return u, RelinRound(h0, h1)

    def relin_round2(self, ephemeral: np.ndarray, round1: RelinRound) -> RelinRound:
        """Round 2 on the summed round-1 shares: s_i h0 + (u_i - s_i) h1 + e2 + e3."""
        if round1.h1 is None:
            raise ParameterError("round 2 needs the summed round-1 shares (h0 and h1)")
        q = self.ring.key_column
        e = self.ring.key_noise(2 * self.ring.decomposition)
        d = self.ring.decomposition
        share = _rns.addmod(_rns.mulmod(self._s, round1.h0, q),
                            _rns.mulmod(_rns.submod(ephemeral, self._s, q), round1.h1, q), q)
        return RelinRound(_rns.addmod(share, _rns.addmod(e[:d], e[d:], q), q))

    def decryption_residues(self, primes: int) -> np.ndarray:
        """s_i over the first `primes` data primes (for `hedge.ckks.multiparty.decryption`)."""
        return self._s[:primes]


def _key(ring: Ring, b: np.ndarray, a: np.ndarray) -> _layout.PolyData:
    return _layout.PolyData(ring.key_parms_id, np.stack([b, a]))


def collective_public_key(crs: CommonReference, shares: Sequence[np.ndarray]) -> seal.PublicKey:
    """(sum p_i, a) as a SEAL public key (validated by SEAL's loader)."""
    ring = ring_for(crs.params)
    data = _layout.ciphertext_bytes(_key(ring, sum_shares(crs.params, shares),
                                         crs.public_key_a()))
    return _layout.load(ring.engine.context.from_public_str, data, "collective public key")


def collective_relin_keys(params: Parameters, round1: RelinRound,
                          round2: Sequence[RelinRound]) -> seal.RelinKeys:
    """(sum of round-2 shares, h1) per decomposition key, as SEAL relinearisation keys."""
    if round1.h1 is None:
        raise ParameterError("the relinearisation key needs the summed round-1 h1")
    ring = ring_for(params)
    b = sum_shares(params, [r.h0 for r in round2])
    keys = _layout.KSwitchData(ring.key_parms_id,
                               [[_key(ring, b[j], round1.h1[j]) for j in range(len(b))]])
    return _layout.load(ring.engine.context.from_relin_str, _layout.kswitch_bytes(keys),
                        "collective relinearisation keys")


def collective_galois_keys(crs: CommonReference,
                           shares: Sequence[dict[int, np.ndarray]]) -> seal.GaloisKeys:
    """Galois keys for the steps every holder sent a share of (the same steps from each)."""
    ring = ring_for(crs.params)
    steps = sorted(shares[0]) if shares else []
    if any(sorted(s) != steps for s in shares):
        raise ParameterError("holders sent Galois shares for different rotation steps")
    if not steps:
        return seal.GaloisKeys()
    rows: list[list[_layout.PolyData]] = [[] for _ in range(ring.n)]
    for step in steps:
        b = sum_shares(crs.params, [s[step] for s in shares])
        a = crs.galois_a(step)
        rows[ring.galois_index(step)] = [
            _key(ring, b[j], a[j]) for j in range(len(b))]
    data = _layout.kswitch_bytes(_layout.KSwitchData(ring.key_parms_id, rows))
    return _layout.load(ring.engine.context.from_galois_str, data, "collective Galois keys")


def collective_bundle(crs: CommonReference, public_key: seal.PublicKey,
                      relin_keys: seal.RelinKeys, galois_keys: seal.GaloisKeys,
                      steps: Sequence[int]) -> PublicBundle:
    """The consortium's public bundle from the collective keys: encrypt and compute as with a
    single-key bundle; no party holds a secret key that decrypts under it."""
    return PublicBundle(crs.params, public_key, relin_keys, galois_keys, tuple(sorted(steps)),
                        common_seed=crs.seed)
