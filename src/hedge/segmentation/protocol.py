"""What the parties of a segmentation agree on: the request's totals' length, the public value
scale, the message digest a site echoes, the contribution file, the nearest centroid, and the
owner's key set for one run."""

from __future__ import annotations

import hashlib
import math
from typing import Any

import numpy as np

from hedge.ckks import KeySet, PublicBundle
from hedge.ml.artifact import ArtifactFormat, ArtifactKind, Role
from hedge.wire.signing import canonical_json

#: A site's upload: its row count and the digest of the request it answers, then its totals.
CONTRIBUTION_FILE = ArtifactFormat(
    ArtifactKind.CONTRIBUTION, "contribution", (Role(1, "totals"),),
    "the upload is encrypted under another key set than the consortium's bundle",
    unnamed_legacy=True)


def nearest(x: np.ndarray, centroids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Index of the nearest centroid per row and the squared distance to it."""
    d2 = ((x[:, None, :] - centroids[None, :, :]) ** 2).sum(axis=2)
    labels = np.argmin(d2, axis=1)
    return labels, d2[np.arange(len(x)), labels]


def value_scale(bundle: PublicBundle, rows: int) -> float:
    """The public power of two every uploaded value is multiplied by: as large as the preset's
    capacity allows for `rows` pooled rows (with a factor 2 of headroom)."""
    return float(2.0 ** math.floor(math.log2(bundle.params.max_result_magnitude / (2.0 * rows))))


def segmentation_keys(restarts: int = 3, max_rounds: int = 100) -> KeySet:
    """The owner's key set for one segmentation: `standard` (capacity for 131,072 pooled values
    per slot), no rotation keys, and a release budget just large enough for the run (the
    flooding noise grows with the square root of the budget)."""
    budget = 1 << math.ceil(math.log2(restarts * max_rounds + 1))
    return KeySet.generate("standard", rotations=[], max_releases=budget)


def message_digest(signed: dict[str, Any]) -> str:
    return hashlib.sha256(canonical_json(signed["payload"])).hexdigest()


def totals_length(payload: dict[str, Any], features: int) -> int:
    """The values a site's totals hold for the request `payload` of a run over `features`."""
    if payload["round"] == 0:
        return 1 + 2 * features
    return len(payload["centroids"]) * (features + 2) + 1
