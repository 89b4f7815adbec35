"""The cloud's step of a segmentation: check the sites' uploads and add the accepted ones
(`aggregate`), without any key; it learns row counts and which sites answered."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hedge.ckks import EncryptedVector, PublicBundle, container
from hedge.errors import (
    CorruptDataError,
    HedgeError,
    ParameterError,
    ShapeError,
)
from hedge.segmentation.protocol import CONTRIBUTION_FILE, message_digest, totals_length


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
    digest, length = message_digest(signed), totals_length(payload, features)
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
