"""Pooled per-class statistics as the cloud hands them to the owner: the sum of the sites'
encrypted statistics vectors (`dataset.class_statistics`: per class, the row count, per-feature
sums and sums of squares) with the feature names, in one file. The owner releases it with
`hedge.owner.statistics_release.release_statistics` (flooded, audited, refused for small
classes)."""

from __future__ import annotations

from dataclasses import dataclass

from hedge.ckks import EncryptedVector, PublicBundle
from hedge.errors import CorruptDataError, SchemaError
from hedge.ml.artifact import ArtifactFormat, ArtifactKind, Role
from hedge.ml.dataset import BIAS, ClassificationData, EncryptedDataset, class_statistics_length

__all__ = ["STATISTICS_FILE", "PooledStatistics"]

#: Pooled statistics files: the feature names, then the one statistics vector.
STATISTICS_FILE = ArtifactFormat(
    ArtifactKind.STATISTICS, "pooled statistics", (Role(1, "statistics"),),
    "these statistics were computed under another key set; use the bundle they were made "
    "with", unnamed_legacy=True)


@dataclass
class PooledStatistics:
    vector: EncryptedVector
    columns: list[str]  # the features, without the bias

    @classmethod
    def of(cls, data: EncryptedDataset) -> PooledStatistics:
        """The pooled statistics of (concatenated) classification data: additions only."""
        if not isinstance(data, ClassificationData) or data.statistics is None:
            raise SchemaError("pooled class statistics need classification data that carries "
                              "its statistics (every site's upload)")
        return cls(data.statistics, [c for c in data.columns if c != BIAS])

    def to_bytes(self) -> bytes:
        return STATISTICS_FILE.write({"columns": self.columns}, {"statistics": [self.vector]})

    @classmethod
    def from_bytes(cls, raw: bytes, bundle: PublicBundle) -> PooledStatistics:
        """Parse and check pooled statistics: `KeyMismatchError` for another key set's,
        `CorruptDataError` naming the field for anything malformed (`columns`: 1 to slots / 2
        distinct non-empty feature names, checked before the one vector, whose length must be
        `class_statistics_length` of them)."""
        reader = STATISTICS_FILE.open(raw, bundle)
        columns = reader.fields.strings("columns", min_items=1,
                                        max_items=bundle.params.slot_count // 2,
                                        max_length=1024, distinct=True)
        vector = reader.vectors({"statistics": 1})["statistics"][0]
        if vector.length != class_statistics_length(len(columns)):
            raise CorruptDataError("the statistics vector does not match its feature names")
        return cls(vector, columns)
