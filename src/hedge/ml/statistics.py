"""Pooled per-class statistics as the cloud hands them to the owner: the sum of the sites'
encrypted statistics vectors (`dataset.class_statistics`: per class, the row count, per-feature
sums and sums of squares) with the feature names, in one file. The owner releases it with
`hedge.owner.statistics.release_statistics` (flooded, audited, refused for small classes)."""

from __future__ import annotations

from dataclasses import dataclass

from hedge.ckks import EncryptedVector, PublicBundle, container
from hedge.ckks.fields import Fields
from hedge.errors import CorruptDataError, SchemaError
from hedge.ml.artifact import ArtifactKind
from hedge.ml.dataset import BIAS, EncryptedDataset, class_statistics_length

__all__ = ["PooledStatistics"]


@dataclass
class PooledStatistics:
    vector: EncryptedVector
    columns: list[str]  # the features, without the bias

    @classmethod
    def of(cls, data: EncryptedDataset) -> PooledStatistics:
        """The pooled statistics of (concatenated) classification data: additions only."""
        if data.task != "classification" or data.statistics is None:
            raise SchemaError("pooled class statistics need classification data that carries "
                              "its statistics (every site's upload)")
        return cls(data.statistics, [c for c in data.columns if c != BIAS])

    def to_bytes(self) -> bytes:
        header = {"columns": self.columns, "fingerprint": self.vector.fingerprint}
        return container.to_bytes(ArtifactKind.STATISTICS, header,
                                  [(1, self.vector.to_bytes())])

    @classmethod
    def from_bytes(cls, raw: bytes, bundle: PublicBundle) -> PooledStatistics:
        """Parse and check pooled statistics: `KeyMismatchError` for another key set's,
        `CorruptDataError` naming the field for anything malformed (`columns`: 1 to slots / 2
        distinct non-empty feature names, checked before the one vector record, whose length
        must be `class_statistics_length` of them)."""
        header, records = container.from_bytes(raw, ArtifactKind.STATISTICS)
        fields = Fields(header.fields, "pooled statistics header")
        fields.key_set(bundle.fingerprint, "these statistics were computed under another key "
                       "set; use the bundle they were made with")
        columns = fields.strings("columns", min_items=1, max_items=bundle.params.slot_count // 2,
                                 max_length=1024, distinct=True)
        if len(records) != 1:
            raise CorruptDataError("pooled statistics hold their feature names and one vector")
        vector = EncryptedVector.from_bytes(records[0][1], bundle)
        if vector.length != class_statistics_length(len(columns)):
            raise CorruptDataError("the statistics vector does not match its feature names")
        return cls(vector, columns)
