"""hedge.ml's artifacts (datasets, models, k-means contributions, evaluations, statistics) as
engine containers of application kinds: their numbers, and one reader and writer for all.

An artifact is a container (`hedge.ckks.container`) of an `ArtifactKind`: a JSON header, then
one record per encrypted vector, each record an `EncryptedVector` container tagged with the
vector's role.
"""

from __future__ import annotations

from enum import IntEnum

from hedge.ckks.container import application_kind

__all__ = ["ArtifactKind"]


class ArtifactKind(IntEnum):
    """Container kinds of hedge.ml's artifacts, in the engine's application range (the numbers
    hedge has always written, so files written before stay readable)."""

    DATASET = application_kind(4)
    MODEL = application_kind(5)
    CONTRIBUTION = application_kind(6)
    EVALUATION = application_kind(7)
    STATISTICS = application_kind(8)
