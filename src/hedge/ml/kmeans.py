"""Federated k-means with encrypted aggregation (workforce segmentation): the parties.

Every exchange is driven by a message the owner signs (Ed25519) and the sites verify:
{run, round, scale, fingerprint, centroids}. `run` is a random id per run (each restart is a
run), `round` 0 asks for statistics, rounds 1, 2, ... carry the current centroids. A site answers
only messages that are newer than any it has answered (a replayed or reordered message is
refused), and echoes the message's digest in its upload; the cloud counts only uploads that
answer the message of this round.

One round r (Lloyd's iteration), on features scaled by the schema into [-1, 1]:

1. the owner signs the current centroids (`SegmentOwner.request`);
2. each site verifies them, assigns its own rows to the nearest centroid, and uploads one
   ciphertext under the consortium bundle (`SegmentSite.respond`): per cluster [count, feature
   sums, sum of squared distances / 4d] (each at most the site's row count), then the number of
   its rows whose segment changed since the previous round; all times the public power of two
   `scale` (`value_scale`: the totals fill the preset's capacity, so the release's flooding
   noise stays negligible); in clear: its row count and the message digest;
3. the cloud checks each upload and adds the accepted ones (`aggregate`); a malformed upload is
   rejected and that site counts as absent this round;
4. the owner release-decrypts the pooled totals only (flooded, audited), refusing when fewer
   than `min_sites` sites are in them or when the counts do not add up to their rows, and
   computes the next centroids = sums / counts (`SegmentOwner.update`).

Initialisation (`SegmentOwner.initial_centroids`) reveals no individual record: round 0 pools
[n, sums, sums of squares]; the owner releases mean and standard deviation and draws k seeded
points from N(mean, diag(std^2)). Empty clusters, and clusters with fewer than
`min_cluster_size` rows, keep their previous centroid. The cloud is assumed honest-but-curious:
the release's security argument covers honestly added ciphertexts (docs/security.md). Depth:
none (additions only). Leakage: docs/segmentation.md. The loop: `hedge.ml.kmeans_run`.
"""

from __future__ import annotations

import hashlib
import math
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from hedge.ckks import EncryptedVector, KeySet, PublicBundle, container
from hedge.ckks.fields import Fields
from hedge.errors import (
    CorruptDataError,
    HedgeError,
    KeyMismatchError,
    ParameterError,
    PolicyError,
    ShapeError,
)
from hedge.ml.artifact import ArtifactFormat, ArtifactKind, Role
from hedge.wire.signing import SigningKey, VerifyKey, canonical_json

__all__ = ["Pooled", "SegmentOwner", "SegmentSite", "aggregate", "message_digest", "nearest",
           "segmentation_keys", "value_scale"]


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


def _length(payload: dict[str, Any], features: int) -> int:
    if payload["round"] == 0:
        return 1 + 2 * features
    return len(payload["centroids"]) * (features + 2) + 1


class SegmentSite:
    """A site: its own scaled rows, the consortium bundle, the owner's pinned verify key."""

    def __init__(self, name: str, x: np.ndarray, bundle: PublicBundle, owner: VerifyKey) -> None:
        x = np.asarray(x, dtype=np.float64)
        if x.ndim != 2 or len(x) == 0 or not np.all(np.isfinite(x)):
            raise ShapeError(f"site {name!r}: rows must be a finite, non-empty matrix")
        self.name, self.x, self.bundle, self.owner = name, x, bundle, owner
        self.features, self.rows = x.shape[1], len(x)
        self._labels: np.ndarray | None = None
        self._last: dict[str, int] = {}  # run -> last round answered

    def _accept(self, signed: dict[str, Any]) -> dict[str, Any]:
        """The payload of a signed request, checked: `SignatureError` if it does not verify,
        `CorruptDataError` naming the field for a malformed one (`run` a string, `round` an
        integer >= 0, `scale` a finite positive number, `centroids` from round 1 on: a matrix
        of 1 to 4096 rows of finite numbers), `KeyMismatchError` for another key set,
        `PolicyError` for a replay. (`respond` raises `ShapeError` for centroids of another
        width than the site's features, `ParameterError` for a scale its totals overflow.)"""
        payload: dict[str, Any] = self.owner.verify(signed)
        fields = Fields(payload, "the signed request")
        run = fields.string("run", max_length=128)
        round_ = fields.integer("round", 0, container.MAX_LENGTH)
        fields.number("scale", 0.0, 1e300, open_low=True)
        if round_ > 0:
            rows = fields.number_rows("centroids", max_rows=4096, items=(1, 4096))
            if len({len(row) for row in rows}) != 1:
                raise fields.fail("centroids", "rows of one length (a matrix)")
        if payload.get("fingerprint") != self.bundle.fingerprint:
            raise KeyMismatchError("the request is for another key set than this site's bundle")
        if round_ <= self._last.get(run, -1):
            raise PolicyError(f"round {round_} of run {run} is not newer than round "
                              f"{self._last[run]} already answered: a replay; refused")
        self._last[run] = round_
        return payload

    def respond(self, signed: dict[str, Any]) -> bytes:
        """Answer a signed request: round 0 with [n, sums, sums of squares], later rounds with
        the per-cluster totals for the given centroids. Nothing but ciphertext leaves."""
        payload = self._accept(signed)
        if payload["round"] == 0:
            values = np.concatenate([[self.rows], self.x.sum(axis=0), (self.x**2).sum(axis=0)])
        else:
            values = self._totals(np.asarray(payload["centroids"], dtype=np.float64),
                                  first=payload["round"] == 1)
        vector = self.bundle.encrypt(values * payload["scale"]).at_level(0)  # additions only
        header = {"message": message_digest(signed), "rows": self.rows}
        return CONTRIBUTION_FILE.write(header, {"totals": [vector]})

    def _totals(self, centroids: np.ndarray, *, first: bool) -> np.ndarray:
        if centroids.ndim != 2 or centroids.shape[1] != self.features:
            raise ShapeError(f"centroids of shape {centroids.shape} do not fit site "
                             f"{self.name!r}'s {self.features} features")
        k, d = centroids.shape
        labels, d2 = nearest(self.x, centroids)
        previous = None if first else self._labels
        changed = self.rows if previous is None else int((labels != previous).sum())
        self._labels = labels
        totals = np.zeros((k, d + 2))
        for j in range(k):
            mine = labels == j
            totals[j] = [mine.sum(), *self.x[mine].sum(axis=0), d2[mine].sum() / (4 * d)]
        return np.concatenate([totals.reshape(-1), [changed]])


@dataclass(frozen=True)
class Pooled:
    """What the cloud hands the owner: the sum of the accepted uploads, and who is in it."""

    vector: EncryptedVector | None
    sites: list[str]
    rows: int
    rejected: dict[str, str]


def aggregate(bundle: PublicBundle, uploads: dict[str, bytes | None], signed: dict[str, Any],
              features: int) -> Pooled:
    """The cloud's step: add the uploads that answer `signed` (the request of this round)."""
    payload = signed["payload"]
    digest, length = message_digest(signed), _length(payload, features)
    accepted: list[str] = []
    rejected: dict[str, str] = {}
    total: EncryptedVector | None = None
    rows = 0
    for name, raw in uploads.items():
        if raw is None:
            continue
        try:
            reader = CONTRIBUTION_FILE.open(raw, bundle, f"the upload of {name}")
            fields = reader.fields
            if fields.string("message", max_length=64) != digest:
                raise CorruptDataError("the upload does not answer this round's request")
            site_rows = fields.integer("rows", 1, container.MAX_LENGTH)
            vector = reader.vectors({"totals": 1})["totals"][0]
            if vector.length != length:
                raise ShapeError(f"{vector.length} values where {length} belong")
            if (rows + site_rows) * payload["scale"] >= bundle.params.max_result_magnitude:
                raise ParameterError(
                    f"pooling {rows + site_rows} rows at scale {payload['scale']:g} would "
                    f"overflow the {bundle.params.name!r} preset "
                    f"({bundle.params.max_result_magnitude:g})")
        except HedgeError as exc:
            rejected[name] = f"{type(exc).__name__}: {exc}"
            continue
        total = vector if total is None else total + vector
        rows += site_rows
        accepted.append(name)
    return Pooled(total, accepted, rows, rejected)


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
