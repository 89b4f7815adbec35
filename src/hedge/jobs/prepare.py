"""Preparation jobs (`kind="prepare"`): the sites' encrypted per-class statistics of the named
uploads, added (`hedge.ml.pooled_statistics`); the owner releases the pooled sums, flooded."""

# No `from __future__ import annotations`: pydantic reads these annotations.
from collections.abc import Callable
from functools import partial
from typing import Literal

from hedge.jobs.base import JobRun, JobSpec, Result
from hedge.ml.artifact import ArtifactKind
from hedge.ml.pooled_statistics import PooledStatistics

__all__ = ["PrepareSpec"]


class PrepareSpec(JobSpec):
    """Add the uploads' encrypted statistics (the sites' vectors add on concatenation)."""

    kind: Literal["prepare"] = "prepare"

    result_kind = ArtifactKind.STATISTICS

    release_kind = "aggregate"

    def computation(self, run: JobRun) -> Callable[[], Result]:
        return partial(PooledStatistics.of, run.data)
