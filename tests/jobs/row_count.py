"""A job kind that lives only in the tests: the pooled row count, encrypted under the
consortium's bundle. It is the whole of what a new kind takes (`hedge.jobs.base`): this module
and one `register` call."""

# No `from __future__ import annotations`: pydantic reads these annotations.
from collections.abc import Callable, Sequence
from typing import Literal

import numpy as np
from pydantic import Field

from hedge.ckks import container
from hedge.errors import PolicyError
from hedge.jobs import JobRun, JobSpec
from hedge.jobs.base import Admission, Result


class RowCountSpec(JobSpec):
    kind: Literal["row-count"] = "row-count"
    most_uploads: int = Field(default=10, ge=1)

    result_kind = container.Kind.VECTOR

    def check_uploads(self, cloud: Admission, uploads: Sequence[int]) -> None:
        if len(uploads) > self.most_uploads:
            raise PolicyError(f"{len(uploads)} uploads; this job counts at most "
                              f"{self.most_uploads}")

    def computation(self, run: JobRun) -> Callable[[], Result]:
        return lambda: run.bundle.encrypt(np.array([float(run.data.rows)]))
