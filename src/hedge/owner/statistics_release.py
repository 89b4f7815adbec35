"""Owner: release pooled per-class statistics, audited and refused for small groups.

The cloud adds the sites' encrypted statistics vectors (`EncryptedDataset.statistics`); the owner
decrypts the pooled vector with release decryption (flooded), refuses when any class holds fewer
than `min_rows` rows (small groups would expose individuals), and appends the release to the
audit log. What comes out: per class, the row count and each feature's mean and standard
deviation (in the schema's scaled units), enough for pooled scaling and for reports.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NoReturn

import numpy as np

from hedge.audit import AuditLog
from hedge.ckks import EncryptedVector
from hedge.ckks.release import Releases
from hedge.errors import PolicyError, ShapeError
from hedge.ml.dataset import class_statistics_length
from hedge.owner.plausibility import check_statistics_counts

__all__ = ["DEFAULT_MIN_ROWS", "ClassStatistics", "release_statistics"]

#: Smallest class size whose statistics may be released.
DEFAULT_MIN_ROWS = 20


@dataclass(frozen=True)
class ClassStatistics:
    columns: list[str]
    counts: np.ndarray  # (2,): rows of class 0 and class 1
    means: np.ndarray  # (2, features)
    stds: np.ndarray  # (2, features)


def release_statistics(releases: Releases, pooled: EncryptedVector, columns: list[str],
                       audit: AuditLog, *, min_rows: int = DEFAULT_MIN_ROWS,
                       job: str | None = None, rows: int | None = None) -> ClassStatistics:
    """Release the pooled statistics of `columns` features (flooded), or `PolicyError`
    (audited) when a class has fewer than `min_rows` rows, or, given the `rows` the job's
    uploads hold, when the statistics are not plausibly theirs
    (`hedge.owner.plausibility.check_statistics_counts`)."""
    d = len(columns)
    if pooled.length != (length := class_statistics_length(d)):
        raise ShapeError(f"a statistics vector for {d} features has {length} values, "
                         f"not {pooled.length}")
    released = releases.release(pooled)
    values = released.values.reshape(2, 1 + 2 * d)
    counts = np.round(values[:, 0])
    if counts.min() < min_rows:
        _refuse(audit, job, d, f"a class has fewer than {min_rows} rows; its statistics are "
                               "not released")
    means = values[:, 1 : 1 + d] / counts[:, None]
    variances = np.maximum(values[:, 1 + d :] / counts[:, None] - means**2, 0.0)
    if rows is not None:
        try:
            check_statistics_counts(values[:, 0], means, np.sqrt(variances), rows,
                                    released.noise_sigma)
        except PolicyError as exc:
            _refuse(audit, job, d, str(exc))
    audit.append("release-statistics", job, {"features": d, "min_rows": min_rows})
    return ClassStatistics(columns, counts, means, np.sqrt(variances))


def _refuse(audit: AuditLog, job: str | None, features: int, reason: str) -> NoReturn:
    audit.append("refused", job, {"action": "release-statistics", "features": features,
                                  "reason": reason})
    raise PolicyError(reason)
