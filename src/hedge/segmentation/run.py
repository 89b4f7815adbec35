"""Federated k-means: the loop over rounds, restarts and convergence (parties:
`hedge.segmentation`)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from hedge.ckks import PublicBundle
from hedge.errors import ParameterError, ShapeError
from hedge.segmentation import SegmentOwner, aggregate, value_scale

__all__ = ["KMeansResult", "RoundReport", "Site", "federated_kmeans"]


class Site(Protocol):
    """What the protocol asks of a site; `None` from `respond` means it is absent."""

    name: str
    features: int
    rows: int

    def respond(self, signed: dict[str, Any]) -> bytes | None: ...


@dataclass(frozen=True)
class RoundReport:
    round: int
    sites: list[str]
    rejected: dict[str, str]
    shift: float
    changed: int
    inertia: float
    upload_bytes: dict[str, int]


@dataclass
class KMeansResult:
    """Centroids in scaled units, segment sizes and inertia of the best restart."""

    centroids: np.ndarray
    sizes: np.ndarray
    inertia: float
    rounds: int
    converged: bool
    seed: int
    history: list[RoundReport]


def _features(sites: Sequence[Site]) -> int:
    widths = {s.features for s in sites}
    if len(widths) != 1:
        raise ShapeError(f"sites disagree on the number of features: {sorted(widths)}")
    return widths.pop()


def federated_kmeans(sites: Sequence[Site], owner: SegmentOwner, bundle: PublicBundle, k: int, *,
                     init: np.ndarray | None = None, seed: int = 0, restarts: int = 3,
                     tol: float = 1e-6, max_rounds: int = 100,
                     progress: Callable[[RoundReport], None] | None = None) -> KMeansResult:
    """Lloyd's iterations over the sites until no row changes segment (all sites present),
    the centroids move less than `tol` (sum of squared shifts, scaled units), or `max_rounds`.
    With `init` ((k, features), scaled units), one run from those centroids; otherwise
    `restarts` runs from the released statistics (seeds seed, seed + 1, ...). The converged run
    with the lowest inertia wins (any run if none converged)."""
    if k < 1 or restarts < 1 or max_rounds < 1 or not sites:
        raise ParameterError("k, restarts and max_rounds must be positive, and sites given")
    features = _features(sites)
    scale = value_scale(bundle, sum(s.rows for s in sites))
    if init is not None:
        start = np.asarray(init, dtype=np.float64)
        if start.shape != (k, features) or not np.all(np.isfinite(start)):
            raise ShapeError(f"initial centroids must be {k} finite rows of {features} "
                             f"features, got shape {start.shape}")
        starts = [(seed, start)]
    else:
        signed = owner.request(owner.new_run(), 0, scale)
        pooled = aggregate(bundle, {s.name: s.respond(signed) for s in sites}, signed, features)
        starts = [(seed + r, owner.initial_centroids(pooled, k, seed + r, scale))
                  for r in range(restarts)]
    results = [_lloyd(sites, owner, bundle, centroids, start_seed, scale, tol, max_rounds,
                      progress) for start_seed, centroids in starts]
    candidates = [r for r in results if r.converged] or results
    return min(candidates, key=lambda r: r.inertia)


def _lloyd(sites: Sequence[Site], owner: SegmentOwner, bundle: PublicBundle,
           centroids: np.ndarray, seed: int, scale: float, tol: float, max_rounds: int,
           progress: Callable[[RoundReport], None] | None) -> KMeansResult:
    k, d = centroids.shape
    run = owner.new_run()
    history: list[RoundReport] = []
    sizes, inertia = np.zeros(k), float("inf")
    for round_ in range(1, max_rounds + 1):
        signed = owner.request(run, round_, scale, centroids)
        uploads = {s.name: s.respond(signed) for s in sites}
        pooled = aggregate(bundle, uploads, signed, d)
        updated, sizes, inertia, changed = owner.update(pooled, centroids, round_, scale)
        shift = float(((updated - centroids) ** 2).sum())
        report = RoundReport(round_, pooled.sites, pooled.rejected, shift, changed, inertia,
                             {n: len(b) for n, b in uploads.items() if b is not None})
        history.append(report)
        if progress:
            progress(report)
        everyone = len(pooled.sites) == len(sites)
        converged = everyone and ((changed == 0 and round_ > 1) or shift <= tol)
        if converged or round_ == max_rounds:
            # this round's centroids, with their own sizes and inertia (at a fixed point the
            # update would only add release noise)
            return KMeansResult(centroids, sizes, inertia, round_, converged, seed, history)
        centroids = updated
    raise AssertionError("unreachable: the loop returns in its last round")
