"""Collective refresh: the holders bring a ciphertext back to the top level, and nobody sees its
values on the way (the assisted mode's refresh without a key service).

Protocol: masked re-encryption, the refresh of Mouchet, Troncoso-Pastoriza, Bossuat and Hubaux
(PoPETs 2021, section on collective bootstrapping), with each holder's mask drawn in the slot
domain as hedge's assisted refresh draws the cloud's (`hedge.ml.refresh`). For a ciphertext
ct = (c0, c1) of k values v at level l, masked to them (`masked_for_release`):

* holder i draws r_i uniform in [-R, R]^k from the operating system's CSPRNG and sends
  h_i = c1 s_i + E_i - Encode_l(r_i) (its decryption share, flooded as a co-decryption is,
  minus its mask) and Enc(T(r_i)), its mask re-encrypted at the top level under the collective
  public key, T the layout the refreshed vector takes (e.g. the weights tiled over every row);
* the cloud adds c0 + sum_i h_i and decodes u = v - sum_i r_i (plus the flooding noise), then
  computes Enc(T(u)) + sum_i Enc(T(r_i)) = Enc(T(v)) at the top level.

What each party sees: a holder sees c1 only; the cloud sees u, in which every holder's r_i
hides v: one honest holder is enough, and u is within statistical distance k |v| / (2 R) of a
value independent of v (R = `mask_range`: about 2^14 for four holders, so 2^-11 per refresh of
16 weights with |v| <= 1: the same kind of statistical hiding as the assisted mode's,
docs/owner.md; the masks stay below 2^16 together so that u keeps its precision in float64).
The flooding noise is the co-decryption's (`hedge.ckks.multiparty.decryption`): each refresh
adds its noise (0.0023 per value for 9 values and 4 holders) to the refreshed values, and is
one more decryption the flooding's budget Q must cover. What counts it is the holders' side of
a deployment (their policy, budget and audit, as `hedge.holder` does for co-decryptions),
which refreshes do not have yet: `LocalConsortium.refresh` counts nothing.
u must not wrap around: sum_i |r_i| + |v| stays below the level's capacity, which fixes R.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from hedge.ckks.keys import PublicBundle
from hedge.ckks.multiparty import _layout, _rns
from hedge.ckks.multiparty.decryption import (
    MASKED_VALUE_BOUND,
    DecryptionShare,
    Flooding,
    SecretShare,
    combine,
    decryption_share,
)
from hedge.ckks.multiparty.ring import ring_for
from hedge.ckks.params import Parameters
from hedge.ckks.release import uniform
from hedge.ckks.vector import EncryptedVector
from hedge.errors import KeyMismatchError, ParameterError

__all__ = ["MASKS_BOUND", "RefreshShare", "combine_refresh", "mask_range", "refresh_share"]

#: What the refreshed vector becomes: the k decrypted values to the slots of the new vector.
Layout = Callable[[np.ndarray], np.ndarray]


#: Bound on the sum of the holders' masks: the cloud decodes u = v - sum r_i in float64, which
#: keeps an absolute precision of 2^-36 up to 2^16.
MASKS_BOUND = 2.0**16


def mask_range(params: Parameters, level: int, holders: int) -> float:
    """R: each holder's mask bound, so that the holders' masks together stay within
    `MASKS_BOUND` and, with the masked values (within `MASKED_VALUE_BOUND`), within half the
    level's capacity. `ParameterError` if that leaves less than 2^10 per holder: refresh at a
    higher level."""
    r = min(MASKS_BOUND, params.magnitude_at(level) / 2 - MASKED_VALUE_BOUND) / holders
    if r < 2.0**10:
        raise ParameterError(f"level {level} of the {params.name!r} preset leaves too "
                             f"little room to mask values for {holders} holders; refresh at a "
                             "higher level")
    return r


@dataclass(frozen=True)
class RefreshShare:
    """Holder `holder`'s part of one refresh: its masked decryption share and its mask,
    re-encrypted at the top level in the refreshed layout."""

    holder: str
    decryption: DecryptionShare
    mask: EncryptedVector


def refresh_share(share: SecretShare, holder: str, bundle: PublicBundle,
                  vector: EncryptedVector, holders: int, layout: Layout,
                  flooding: Flooding) -> RefreshShare:
    """h_i and Enc(T(r_i)) (module doc) for a one-ciphertext `vector` masked to its values."""
    if len(vector.ciphertexts) != 1 or vector.fingerprint != bundle.fingerprint:
        raise ParameterError("a refresh takes one ciphertext under this consortium's key")
    ct = vector.ciphertexts[0]
    mask = uniform(vector.length, mask_range(bundle.params, vector.level, holders))
    d = decryption_share(share, holder, ct, flooding)
    ring = ring_for(bundle.params)
    encoded = _layout.parse_plaintext(
        ring.engine.encode(mask, vector.level, ct.scale()).to_bytes(), ring.n).polys[0]
    residues = _rns.submod(d.residues, encoded, ring.column(vector.level + 1))
    # the top level holds the mask (its capacity is far above MASKS_BOUND on every preset)
    return RefreshShare(holder, DecryptionShare(holder, d.parms_id, residues),
                        bundle.encrypt(layout(mask), check_range=False))


def combine_refresh(bundle: PublicBundle, vector: EncryptedVector,
                    shares: Sequence[RefreshShare], holders: Sequence[str],
                    layout: Layout) -> EncryptedVector:
    """Enc(T(v)) at the top level from every holder's `RefreshShare` (the cloud's step):
    `KeyMismatchError` for a missing, extra or foreign share, as `combine` raises, or a mask
    under another key."""
    if any(s.mask.fingerprint != bundle.fingerprint for s in shares):
        raise KeyMismatchError("a refresh share's mask is encrypted under another key set")
    masked = combine(bundle.params, vector.ciphertexts[0], [s.decryption for s in shares],
                     holders)[: vector.length]
    fresh = bundle.encrypt(layout(masked), check_range=False)
    for s in shares:
        fresh = fresh + s.mask
    return fresh
