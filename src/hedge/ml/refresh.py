"""Owner-assisted refresh, cloud side: mask, send, unmask. No HTTP here (see `RefreshClient`).

The cloud holds a ciphertext of the weights at a low level. It adds a fresh uniform mask r it
keeps, sends Enc(w + r) to the owner's key service, which decrypts, re-encrypts at the top level
and returns the ciphertext; the cloud subtracts r. The key service sees only w + r.
"""

from __future__ import annotations

import secrets
from typing import Protocol

import numpy as np

from hedge.ckks import EncryptedVector
from hedge.errors import CorruptDataError, ParameterError
from hedge.ml.layout import RowLayout

__all__ = ["MASK_RANGE", "RefreshClient", "refresh_tiled"]

#: Masks are uniform in [-MASK_RANGE, MASK_RANGE]. The key service's view of one value w + r is
#: within statistical distance |w| / (2 MASK_RANGE) of uniform; over n values and k refreshes the
#: distances add up: n k |w| / 2^15 (16 weights, 64 refreshes, |w| <= 1: about 2^-5). That is a
#: statistical, not a cryptographic, hiding (docs/owner.md). Re-encryption keeps an absolute CKKS
#: error (~1e-8), so masking costs no precision.
MASK_RANGE = float(2**14)


class RefreshClient(Protocol):
    """Reaches the key service: sends a masked vector's bytes, receives the refreshed bytes."""

    def refresh(self, job_id: str, masked: bytes) -> bytes: ...


def _uniform(n: int) -> np.ndarray:
    raw = np.frombuffer(secrets.token_bytes(8 * n), dtype=np.uint64)
    return np.asarray((raw >> np.uint64(11)).astype(np.float64) / 2.0**53 * 2 - 1) * MASK_RANGE


def refresh_tiled(client: RefreshClient, job_id: str, w: EncryptedVector,
                  layout: RowLayout, *, scale: float = 1.0) -> EncryptedVector:
    """Refresh weights held tiled in `layout`: only the model's `layout.columns` values travel
    (cut out with one level, `scale` folded into that cut for free), and the key service
    returns them tiled at the top level: scale * w in every row."""
    if not (np.isfinite(scale) and scale > 0):
        raise ParameterError(f"scale must be a positive number, not {scale!r}")
    if scale == 1.0:
        compact = w.head(layout.columns)
    else:
        cut = np.zeros(w.length)
        cut[: layout.columns] = scale
        compact = (w * cut).truncated(layout.columns)
    capacity = w.bundle.params.max_result_magnitude
    if compact.level == 0 and capacity <= 2 * MASK_RANGE:
        raise ParameterError(
            f"masked weights reach {2 * MASK_RANGE:g}, more than level 0 of the "
            f"{w.bundle.params.name!r} preset holds ({capacity:g}); refresh one level earlier"
        )
    mask = _uniform(layout.columns)
    masked = (compact + mask).to_bytes()
    fresh = EncryptedVector.from_bytes(client.refresh(job_id, masked), w.bundle)
    if fresh.length != w.length:
        raise CorruptDataError("the key service returned a vector of another layout")
    return fresh - layout.tile(mask)
