"""Threshold decryption: every holder's share, flooded, and the recipient's combination.

A ciphertext (c0, c1) under s = sum_i s_i decrypts to c0 + c1 s = Delta m + e. Holder i
returns d_i = c1 s_i + E_i with E_i a rounded Gaussian of standard deviation `sigma`
(noise flooding); the recipient computes c0 + sum_i d_i = Delta m + e + sum_i E_i and decodes.
With a share missing, c1 s_i is missing: the result is uniformly random mod q (tested).

Flooding (the argument of `hedge.ckks.release`, on the polynomial instead of the slots): the
recipient sees the N coefficients of e + sum E_i, and even if all but one holder collude they
can remove only their own E_i. Compare with a simulation that needs no key: per coefficient the
Renyi divergence of order 2 is exp(e_k^2 / sigma^2) <= exp(t^2 / sigma^2) for a public bound
|e_k| <= t; over N coefficients and at most `max_decryptions` decryptions it is at most e when

    sigma = t * sqrt(N * max_decryptions),

and a key recovery that succeeds with probability eps from the shares succeeds with eps^2 / e
without them: a 128-bit problem keeps about 64 bits. Each holder floods with this sigma on its
own, so the guarantee holds whichever holders are honest. `t` is `COEFFICIENT_ERROR_BOUND`, a
public bound on the coefficient error of honestly computed ciphertexts; the tests measure the
engine's operations against it. The cost: the decrypted values carry noise of standard deviation
about sigma * sqrt(holders * N / 2) / Delta in each slot (`slot_noise`), and the combined
coefficients must stay below q_0 / 2: for up to 16 holders 6 sigma sqrt(holders) is below 2^37
on every preset, against q_0 / 2 >= 2^47, so no level is spent and the capacity of the last
level shrinks by less than 2^-10 (tested for every preset). The price is precision instead:
about 0.18 sqrt(holders) per slot at N = 16384 and scale 2^40, where a single-key release
floods only the values it releases (`hedge.ckks.release`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Protocol

import numpy as np
import seal

from hedge.ckks.multiparty import _layout, _rns
from hedge.ckks.multiparty.ring import Ring, ring_for
from hedge.ckks.params import Parameters
from hedge.errors import CorruptDataError, KeyMismatchError, ParameterError

__all__ = ["COEFFICIENT_ERROR_BOUND", "DEFAULT_MAX_DECRYPTIONS", "DecryptionShare",
           "combine", "combine_plaintext", "decryption_share", "flooding_sigma", "slot_noise"]

#: Default public bound t on |e_k|, the coefficient error of an honestly computed ciphertext
#: (2^20; measured: 2^7 fresh, 2^8 after three multiplications, 2^18.5 for a sum over all 4096
#: slots of the fast preset, tests/ckks/multiparty/test_decryption.py). Larger computations
#: state their own bound (`flooding_sigma(error_bound=...)`): the benchmark's product, 15
#: rotations and sum over 8192 slots of the standard preset reach 2^22.3 to 2^23.2 (three runs)
#: (benchmarks/threshold.py), and the noise grows with the bound.
COEFFICIENT_ERROR_BOUND = 2.0**20
#: Co-decryptions under one collective key set the flooding is sized for (then new keys).
DEFAULT_MAX_DECRYPTIONS = 2**8


def flooding_sigma(params: Parameters, max_decryptions: int = DEFAULT_MAX_DECRYPTIONS, *,
                   error_bound: float = COEFFICIENT_ERROR_BOUND) -> float:
    """Each holder's flooding standard deviation: t * sqrt(N * max_decryptions), for a public
    coefficient error bound t (`error_bound`, fixed by what is decrypted, never measured on
    the decryption itself)."""
    if max_decryptions < 1:
        raise ParameterError("max_decryptions must be at least 1")
    if not (math.isfinite(error_bound) and 1 <= error_bound <= 2.0**30):
        raise ParameterError("the coefficient error bound must lie in [1, 2^30]")
    return error_bound * math.sqrt(params.poly_modulus_degree * max_decryptions)


def slot_noise(params: Parameters, holders: int, scale: float,
               max_decryptions: int = DEFAULT_MAX_DECRYPTIONS, *,
               error_bound: float = COEFFICIENT_ERROR_BOUND) -> float:
    """Standard deviation of the flooding noise in each decrypted slot value."""
    n = params.poly_modulus_degree
    sigma = flooding_sigma(params, max_decryptions, error_bound=error_bound)
    return sigma * math.sqrt(holders * n / 2) / scale


class DecryptionShare:
    """Holder `holder`'s share d_i of one ciphertext: [primes, N] residues at its level."""

    def __init__(self, holder: str, parms_id: tuple[int, ...], residues: np.ndarray) -> None:
        self.holder, self.parms_id, self.residues = holder, parms_id, residues


def _parts(ring: Ring, ciphertext: seal.Ciphertext) -> _layout.PolyData:
    ct = _layout.parse_ciphertext(ciphertext.to_string())
    if ct.polys.shape[0] != 2 or not ct.is_ntt:
        raise ParameterError("threshold decryption takes relinearised ciphertexts (2 "
                             "polynomials, NTT form)")
    return ct


class SecretShare(Protocol):
    """What decrypts a share: an n-of-n `KeyShare`, or a t-of-n `ThresholdShare` for a set."""

    ring: Ring

    def decryption_residues(self, primes: int) -> np.ndarray: ...


def decryption_share(share: SecretShare, holder: str, ciphertext: seal.Ciphertext,
                     sigma: float) -> DecryptionShare:
    """d_i = c1 s_i + E_i, E_i ~ rounded N(0, sigma^2) in the coefficients."""
    ring = share.ring
    ct = _parts(ring, ciphertext)
    primes = ct.primes
    q = ring.column(primes)
    d = _rns.mulmod(ct.polys[1], share.decryption_residues(primes), q)
    d = _rns.addmod(d, ring.flooding_ntt(primes, sigma), q)
    return DecryptionShare(holder, ct.parms_id, d)


def combine(params: Parameters, ciphertext: seal.Ciphertext,
            shares: Mapping[str, DecryptionShare] | Sequence[DecryptionShare],
            holders: Sequence[str]) -> np.ndarray:
    """Decode c0 + sum_i d_i: the slot values (all N/2). `holders` names every holder whose
    share the decryption needs; a missing, extra or foreign share raises `KeyMismatchError`
    naming it, before anything is combined."""
    plain = combine_plaintext(params, ciphertext, shares, holders)
    return ring_for(params).engine.decode(plain)


def combine_plaintext(params: Parameters, ciphertext: seal.Ciphertext,
                      shares: Mapping[str, DecryptionShare] | Sequence[DecryptionShare],
                      holders: Sequence[str]) -> seal.Plaintext:
    """c0 + sum_i d_i as a SEAL plaintext (what `combine` decodes)."""
    ring = ring_for(params)
    ct = _parts(ring, ciphertext)
    given = list(shares.values()) if isinstance(shares, Mapping) else list(shares)
    names = [s.holder for s in given]
    missing = sorted(set(holders) - set(names))
    extra = sorted(set(names) - set(holders))
    if missing or extra or len(names) != len(set(names)):
        raise KeyMismatchError(
            "a threshold decryption needs exactly one share from each holder"
            + (f"; missing: {', '.join(missing)}" if missing else "")
            + (f"; not holders of this key: {', '.join(extra)}" if extra else ""))
    q = ring.column(ct.primes)
    total = ct.polys[0]
    for s in given:
        if tuple(s.parms_id) != tuple(ct.parms_id) or s.residues.shape != total.shape:
            raise KeyMismatchError(f"the share of {s.holder} is for another ciphertext level")
        if s.residues.dtype != np.uint64 or bool((s.residues >= q).any()):
            raise CorruptDataError(f"the share of {s.holder} holds residues at or above their "
                                   "primes: not a share; ask its holder again")
        total = _rns.addmod(total, s.residues, q)
    plain = _layout.PolyData(ct.parms_id, total[np.newaxis], ct.scale)
    return _layout.load(ring.engine.context.from_plain_str,
                        _layout.plaintext_bytes(plain), "combined decryption")
