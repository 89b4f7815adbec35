"""A site of a segmentation: verifies the owner's signed request, assigns its own rows and
uploads its encrypted totals (`SegmentSite.respond`); it learns nothing of other sites."""

from __future__ import annotations

from typing import Any

import numpy as np

from hedge.ckks import PublicBundle, container
from hedge.ckks.fields import Fields
from hedge.errors import (
    KeyMismatchError,
    PolicyError,
    ShapeError,
)
from hedge.segmentation.protocol import (
    CONTRIBUTION_FILE,
    message_digest,
    nearest,
)
from hedge.wire.signing import VerifyKey


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
