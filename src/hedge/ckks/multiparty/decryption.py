"""Threshold decryption: every holder's share, flooded, and the recipient's combination.

A ciphertext (c0, c1) under s = sum_i s_i decrypts to c0 + c1 s = Delta m + e. Holder i
returns d_i = c1 s_i + E_i with E_i a rounded Gaussian of standard deviation `sigma` in every
coefficient (noise flooding); the recipient computes c0 + sum_i d_i = Delta m + e + sum_i E_i
and decodes. With a share missing, c1 s_i is missing: the result is uniformly random mod q
(tested).

Flooding (the argument of `hedge.ckks.release`, on the polynomial instead of the released
values). The recipient sees all N coefficients of e + sum E_i, and even if all but one holder
collude they can remove only their own E_i. Compare with a simulation that needs no key: the
Renyi divergence of order 2 between N(e, sigma^2 I) and N(0, sigma^2 I) is
exp(||e||_2^2 / sigma^2); over at most Q = `max_decryptions` decryptions it is at most e when

    sigma = B sqrt(Q),   B a public bound on ||e||_2,

and a key recovery that succeeds with probability eps from the shares succeeds with eps^2 / e
without them: a 128-bit problem keeps about 64 bits. Each holder floods with this sigma on its
own, so the guarantee holds whichever holders are honest.

B comes from the same public per-value bound t as a single-key release (`Flooding.error_bound`,
default `hedge.ckks.release.DEFAULT_ERROR_BOUND` = 2^-16 on the real and on the imaginary part
of each slot's error), through the canonical embedding: its N values sigma_j(e) are the slots'
errors times Delta and their conjugates, and ||sigma(e)||_2^2 = N ||e||_2^2 for power-of-two
cyclotomics, so

    ||e||_2^2 <= (4 / N) Delta^2 (k t^2 + (N / 2 - k) r^2)

when k slots carry errors up to t and the others up to r. Without a mask every slot may carry
the computation's error (k = N / 2: B = sqrt(2) t Delta). `masked_for_release` multiplies a
ciphertext by the 0/1 mask of the values it releases (one level): the other slots then hold only
the mask's rounding (about 2^-33 times their value) and the rescaling's, below
`MASKED_ERROR_BOUND` r = 2^-22 while their values stay within `MASKED_VALUE_BOUND` (2^8,
tested), and the noise is sized for the k released values. Each released value then carries
noise of standard deviation sigma sqrt(holders N / 2) / Delta = sqrt(2 holders Q (k t^2 +
(N / 2 - k) r^2)) (`Flooding.slot_noise`): 0.0023 for 9 values and 4 holders at Q = 2^8 on
the standard preset (the zeroed slots' r adds a tenth), against 0.062 for all its 8192 slots
unmasked, and 0.012 for a single-key release of the same 9 values (its Q is 2^16). The
combined coefficients must stay below q_0 / 2: six sigma for 16 holders is far below 2^-10
of it on every preset (tested), so no level is spent on the flooding itself.

The argument covers honestly computed ciphertexts: each slot's error within its bound, which
a holder cannot check from the ciphertext (the semi-honest assumption docs/security.md
states). What a holder can check it does not take on trust: the noise is sized at the scale
of the ciphertext's level, never at the scale a ciphertext claims (`canonical_scale`), and the
mask is applied by each holder itself (`mask_ciphertext`, deterministic), not by whoever asks.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import seal

from hedge.ckks._engine import Engine
from hedge.ckks.multiparty import _layout, _rns
from hedge.ckks.multiparty.ring import Ring, ring_for
from hedge.ckks.params import Parameters
from hedge.ckks.release import DEFAULT_ERROR_BOUND
from hedge.ckks.vector import EncryptedVector
from hedge.errors import CorruptDataError, KeyMismatchError, ParameterError

__all__ = ["DEFAULT_MAX_DECRYPTIONS", "ERROR_BOUND_RANGE", "MASKED_ERROR_BOUND",
           "MASKED_VALUE_BOUND", "DecryptionShare", "Flooding", "canonical_scale", "combine",
           "combine_plaintext", "decryption_share", "mask_ciphertext", "masked_for_release"]

#: The per-value error bounds a flooding may be sized for (slot units).
ERROR_BOUND_RANGE = (2.0**-40, 2.0**10)
#: Co-decryptions under one collective key set the flooding is sized for (then new keys).
DEFAULT_MAX_DECRYPTIONS = 2**8
#: Bound r on the error of a slot `masked_for_release` zeroed: the mask's rounding, about 2^-33
#: times the value the slot held, and the rescaling's (measured: at most 2^-25.9 for values
#: up to 120, so 2^-24.8 at `MASKED_VALUE_BOUND`; tests/ckks/multiparty/test_decryption.py).
MASKED_ERROR_BOUND = 2.0**-22
#: Largest magnitude a zeroed slot may have held for `MASKED_ERROR_BOUND` to hold.
MASKED_VALUE_BOUND = 2.0**8


@dataclass(frozen=True)
class Flooding:
    """What a holder's flooding is sized for: the public per-value error bound t (slot units,
    real and imaginary part), `released` values when the ciphertext was masked to them
    (`masked_for_release`; None: every slot), and Q co-decryptions under the key set."""

    error_bound: float = DEFAULT_ERROR_BOUND
    released: int | None = None
    max_decryptions: int = DEFAULT_MAX_DECRYPTIONS

    def __post_init__(self) -> None:
        low, high = ERROR_BOUND_RANGE
        if not (math.isfinite(self.error_bound) and low <= self.error_bound <= high):
            raise ParameterError("the flooding's error bound must lie in [2^-40, 2^10] "
                                 f"(slot units), not {self.error_bound!r}")
        if self.released is not None and (isinstance(self.released, bool)
                                          or not isinstance(self.released, int)
                                          or self.released < 1):
            raise ParameterError(f"released must be a positive count, not {self.released!r}")
        if isinstance(self.max_decryptions, bool) or not isinstance(
                self.max_decryptions, int) or self.max_decryptions < 1:
            raise ParameterError("max_decryptions must be at least 1")

    def _variance(self, params: Parameters) -> float:
        """k t^2 + (N / 2 - k) r^2: the slots' squared error bounds, summed."""
        slots = params.slot_count
        if self.released is None:
            return slots * self.error_bound**2
        if self.released > slots:
            raise ParameterError(f"{self.released} released values do not fit in {slots} slots")
        k = self.released
        return k * self.error_bound**2 + (slots - k) * min(self.error_bound,
                                                           MASKED_ERROR_BOUND) ** 2

    def error_norm(self, params: Parameters, scale: float) -> float:
        """B: the bound on ||e||_2 over the coefficients, at the ciphertext's `scale`."""
        return math.sqrt(4 / params.poly_modulus_degree * self._variance(params)) * scale

    def sigma(self, params: Parameters, scale: float) -> float:
        """Each holder's flooding standard deviation, B sqrt(Q), per coefficient."""
        return self.error_norm(params, scale) * math.sqrt(self.max_decryptions)

    def slot_noise(self, params: Parameters, holders: int) -> float:
        """Standard deviation of the flooding noise in each decrypted value (any scale)."""
        return math.sqrt(2 * holders * self.max_decryptions * self._variance(params))


def mask_ciphertext(engine: Engine, ciphertext: seal.Ciphertext,
                    released: int) -> seal.Ciphertext:
    """`ciphertext` times the 0/1 mask of its first `released` slots, one level down (SEAL's
    encoding, product and rescaling are deterministic: whoever masks the same ciphertext gets
    the same bytes, so holders and recipient can each mask it themselves).
    `DepthExhaustedError` at the last level."""
    level = engine.level_of(ciphertext)
    engine.require_depth("masking a ciphertext for its release", 1, level)
    return engine.mul_plain_to(ciphertext, np.ones(released), level - 1)


def masked_for_release(vector: EncryptedVector) -> tuple[EncryptedVector, Flooding]:
    """`vector` with every ciphertext masked to its first min(length, slots) values
    (`mask_ciphertext`, one level; `DepthExhaustedError` at the last level), and the flooding
    that fits it: sized for those values, the others being zero within `MASKED_ERROR_BOUND`.
    Every slot must hold a value within `MASKED_VALUE_BOUND` beforehand (what the computation
    guarantees, not checked)."""
    eng = vector.engine
    released = min(vector.length, eng.slots)
    masked = EncryptedVector(vector.bundle, [mask_ciphertext(eng, c, released)
                                             for c in vector.ciphertexts],
                             vector.length, clean=vector.length <= eng.slots)
    return masked, Flooding(released=released)


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


def canonical_scale(engine: Engine, ciphertext: seal.Ciphertext) -> float:
    """The scale every honestly computed ciphertext at this one's level has (the engine keeps
    each level's scale fixed); `CorruptDataError` for a ciphertext that claims another. The
    flooding is sized at this scale: one that claimed a tiny scale would shrink a holder's
    noise to nothing and its share to c1 s_i."""
    expected = engine.scales[engine.level_of(ciphertext)]
    if not math.isclose(ciphertext.scale(), expected, rel_tol=1e-9):
        raise CorruptDataError(f"this ciphertext claims the scale {ciphertext.scale():.6g}, "
                               f"not its level's {expected:.6g}: no honestly computed "
                               "ciphertext does; refusing to decrypt it")
    return expected


def decryption_share(share: SecretShare, holder: str, ciphertext: seal.Ciphertext,
                     flooding: Flooding | float) -> DecryptionShare:
    """d_i = c1 s_i + E_i, E_i ~ rounded N(0, sigma^2) in the coefficients: sigma as
    `flooding` sizes it at the scale of the ciphertext's level (`canonical_scale`, which
    refuses a ciphertext claiming another), or the float given (tests and benchmarks that
    measure exactness; anything below the flooding's sigma is no release)."""
    ring = share.ring
    ct = _parts(ring, ciphertext)
    sigma = (flooding.sigma(ring.params, canonical_scale(ring.engine, ciphertext))
             if isinstance(flooding, Flooding) else float(flooding))
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
