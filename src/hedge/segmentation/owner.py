"""The owner of a segmentation: signs each round's request, release-decrypts the pooled totals
only (flooded, audited, refused below `min_sites` sites) and computes the next centroids."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from hedge.ckks import KeySet
from hedge.errors import (
    CorruptDataError,
    ParameterError,
    PolicyError,
)
from hedge.segmentation.cloud import Pooled
from hedge.wire.signing import SigningKey


@dataclass
class SegmentOwner:
    """The owner: secret keys (release decryption only), the signing key, the release policy."""

    keys: KeySet
    signing_key: SigningKey = field(default_factory=SigningKey)
    min_cluster_size: int = 3
    min_sites: int = 2
    audit: Callable[[str, dict[str, Any]], object] | None = None

    @staticmethod
    def new_run() -> str:
        return secrets.token_hex(8)

    def request(self, run: str, round_: int, scale: float,
                centroids: np.ndarray | None = None) -> dict[str, Any]:
        payload: dict[str, Any] = {"run": run, "round": round_, "scale": scale,
                                   "fingerprint": self.keys.fingerprint}
        if centroids is not None:
            payload["centroids"] = np.asarray(centroids, dtype=np.float64).tolist()
        return self.signing_key.sign(payload)

    def _release(self, pooled: Pooled, what: str, scale: float) -> np.ndarray:
        if pooled.vector is None or len(pooled.sites) < self.min_sites:
            raise PolicyError(f"{what}: {len(pooled.sites)} site(s) contributed, fewer than "
                              f"the {self.min_sites} a release needs (it would show one "
                              f"site's own totals); rejected: {pooled.rejected or 'none'}")
        values = np.asarray(self.keys.release(pooled.vector).values) / scale
        if self.audit:
            self.audit("release-kmeans", {"what": what, "values": int(pooled.vector.length),
                                          "sites": pooled.sites})
        return values

    @staticmethod
    def _check_rows(counted: float, pooled: Pooled) -> None:
        if abs(counted - pooled.rows) > 0.5:
            raise CorruptDataError(f"the released counts add up to {counted:.1f}, the "
                                   f"contributing sites hold {pooled.rows} rows: not an honest "
                                   "aggregate; nothing was updated")

    def initial_centroids(self, pooled: Pooled, k: int, seed: int, scale: float) -> np.ndarray:
        """k seeded draws from N(mean, diag(std^2)) of the released pooled statistics."""
        values = self._release(pooled, "statistics", scale)
        self._check_rows(values[0], pooled)
        d = (len(values) - 1) // 2
        n = pooled.rows
        if n < max(k, self.min_cluster_size):
            raise ParameterError(f"{n} rows in all cannot make {k} segments")
        mean = values[1 : 1 + d] / n
        std = np.sqrt(np.maximum(values[1 + d :] / n - mean**2, 0.0))
        draws = np.random.default_rng(seed).standard_normal((k, d))
        return np.asarray(np.clip(mean + draws * std, -1.0, 1.0))

    def update(self, pooled: Pooled, previous: np.ndarray, round_: int,
               scale: float) -> tuple[np.ndarray, np.ndarray, float, int]:
        """Next centroids, the cluster sizes, the inertia and the number of rows whose segment
        changed since the round before, from the released totals."""
        k, d = previous.shape
        values = self._release(pooled, f"round {round_}", scale)
        totals = values[:-1].reshape(k, d + 2)
        counts = np.maximum(np.round(totals[:, 0]), 0.0)
        self._check_rows(float(counts.sum()), pooled)
        big = counts >= max(1, self.min_cluster_size)
        centroids = previous.copy()
        centroids[big] = totals[big, 1 : 1 + d] / counts[big, None]
        inertia = float(max(totals[:, -1].sum(), 0.0)) * 4 * d
        return centroids, counts, inertia, max(round(values[-1]), 0)
