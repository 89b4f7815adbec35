"""Owner-assisted refresh, cloud side: mask, send, unmask. No HTTP here (see `RefreshClient`).
In threshold mode the key holders refresh instead (`collective_refresh_tiled`).

The cloud holds a ciphertext of the weights at a low level. It adds a fresh uniform mask r it
keeps, sends Enc(w + r) to the owner's key service, which decrypts, re-encrypts at the top level
and returns the ciphertext; the cloud subtracts r. The key service sees only w + r.

What both sides agree on (the key service refuses anything else, `hedge.owner.keyservice`):
the masked vector travels at `refresh_level(params)`, the lowest level whose capacity holds
twice `REFRESH_BOUND`, and the key service clips what it decrypts to +-`REFRESH_BOUND` before
it re-encrypts, so that no decryption can make its answer differ.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import numpy as np

from hedge.ckks import EncryptedVector, Parameters
from hedge.ckks.release import uniform
from hedge.errors import CorruptDataError, ParameterError
from hedge.ml.layout import RowLayout

__all__ = ["MASK_RANGE", "REFRESH_BOUND", "CollectiveRefresher", "RefreshClient",
           "collective_refresh_tiled", "refresh_level", "refresh_tiled"]

#: Masks are uniform in [-MASK_RANGE, MASK_RANGE]. The key service's view of one value w + r is
#: within statistical distance |w| / (2 MASK_RANGE) of uniform; over n values and k refreshes the
#: distances add up: n k |w| / 2^15 (16 weights, 64 refreshes, |w| <= 1: about 2^-5). That is a
#: statistical, not a cryptographic, hiding (docs/owner.md). Re-encryption keeps an absolute CKKS
#: error (~1e-8), so masking costs no precision.
MASK_RANGE = float(2**14)

#: The key service clips decrypted values to +-REFRESH_BOUND: |w + r| <= MASK_RANGE + |w| stays
#: inside for any weight |w| <= MASK_RANGE, far beyond what training produces.
REFRESH_BOUND = 2 * MASK_RANGE


def refresh_level(params: Parameters) -> int:
    """The level masked vectors travel at: the lowest whose capacity holds 2 * REFRESH_BOUND
    (level 0 of 'standard' and 'deep', which hold 2^17; level 1 of 'fast'). The lowest level
    also makes the smallest ciphertext to send."""
    for level in range(params.depth + 1):
        if params.magnitude_at(level) >= 2 * REFRESH_BOUND:
            return level
    raise ParameterError(f"no level of the {params.name!r} preset holds masked weights "
                         f"(+-{2 * REFRESH_BOUND:g}); use a larger preset")


class RefreshClient(Protocol):
    """Reaches the key service: sends a masked vector's bytes, receives the refreshed bytes."""

    def refresh(self, job_id: str, masked: bytes) -> bytes: ...


class CollectiveRefresher(Protocol):
    """Reaches the key holders: a vector masked to its values goes in, the vector in `layout`
    comes back at the top level (`hedge.ckks.multiparty.refresh`: the holders mask it, the
    refresher never sees its values)."""

    def refresh(self, vector: EncryptedVector,
                layout: Callable[[np.ndarray], np.ndarray]) -> EncryptedVector: ...


def _cut(w: EncryptedVector, layout: RowLayout, scale: float, *,
         masked: bool) -> EncryptedVector:
    """The model's `layout.columns` values of `w`, times `scale`, at `refresh_level`: cut out
    with one level (always a multiplication by the cut if `masked`, as a co-decryption needs:
    `hedge.ckks.multiparty.masked_for_release`)."""
    if not (np.isfinite(scale) and scale > 0):
        raise ParameterError(f"scale must be a positive number, not {scale!r}")
    level = refresh_level(w.bundle.params)
    w.engine.require_depth("cutting the weights out for a refresh", 1, w.level - level)
    if scale == 1.0 and not masked:
        compact = w.head(layout.columns)
    else:
        cut = np.zeros(w.length)
        cut[: layout.columns] = scale
        compact = (w * cut).truncated(layout.columns)
    return compact.at_level(level)


def refresh_tiled(client: RefreshClient, job_id: str, w: EncryptedVector,
                  layout: RowLayout, *, scale: float = 1.0) -> EncryptedVector:
    """Refresh weights held tiled in `layout`: only the model's `layout.columns` values travel
    (cut out with one level, `scale` folded into that cut for free, then brought down to
    `refresh_level`), and the key service returns them tiled at the top level: scale * w in
    every row. `DepthExhaustedError` if the weights are too low for the cut to land at the
    refresh level: refresh one level earlier."""
    compact = _cut(w, layout, scale, masked=False)
    mask = uniform(layout.columns, MASK_RANGE)
    masked = (compact + mask).to_bytes()
    fresh = EncryptedVector.from_bytes(client.refresh(job_id, masked), w.bundle)
    if fresh.length != w.length:
        raise CorruptDataError("the key service returned a vector of another layout")
    return fresh - layout.tile(mask)


def collective_refresh_tiled(refresher: CollectiveRefresher, w: EncryptedVector,
                             layout: RowLayout, *, scale: float = 1.0) -> EncryptedVector:
    """`refresh_tiled` in threshold mode: the same cut (always a multiplication, so that the
    holders flood for the model's values alone), refreshed by the key holders."""
    fresh = refresher.refresh(_cut(w, layout, scale, masked=True), layout.tile)
    if fresh.length != w.length:
        raise CorruptDataError("the refresh returned a vector of another layout")
    return fresh
