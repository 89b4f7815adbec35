"""Differencing between jobs: whether a new job's uploads differ from an earlier job's by so few
rows that the two results, decrypted by the owner, would give those rows' contribution.

Two jobs over upload sets U and V release f(U) and f(V); for sums (statistics, evaluation
counts) f(U) - f(V) is the sum over the uploads in U but not in V minus those in V but not in
U, and a model trained on U against one trained on V shows the same rows' influence. So the
cloud refuses a job unless, against every earlier job of the consortium, the rows of the
symmetric difference U ^ V are none or at least the minimum, in all and within each site (a
difference made of one site's few rows and another site's many would otherwise isolate the few
to whoever knows the many, such as an owner that uploaded them itself).

Evaluations over one upload set differ by nothing, but the owner chooses each one's model: a
steep one-feature model counts the positives beyond a threshold, and a sweep over thresholds
reads rows off the counts. So at most a few evaluations run over the same uploads
(`too_many_evaluations`).

What this does not stop (docs/security.md): combinations of three or more jobs (U1 + U3 - U2
can isolate what no pair does), an owner that pads jobs with uploads of its own, and what the
allowed evaluations still reveal; the row minimum, the flooding noise, the release budget and
the audit log remain the defences there.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from hedge.cloud.db import Upload

__all__ = ["too_close"]


def too_close(uploads: Sequence[Upload], earlier: Iterable[tuple[int, list[int] | None]],
              known: Sequence[Upload], minimum: int) -> str | None:
    """Why a job over `uploads` differs too little from one of the `earlier` jobs (each: its
    id and its upload ids; None, as jobs of older hedges stored "all", stands for every
    upload in `known`), or None if it differs from each by none or at least `minimum` rows,
    in all and per site. `known`: the consortium's uploads (their rows and sites)."""
    if minimum <= 0:
        return None
    by_id = {u.id: u for u in known}
    mine = {u.id for u in uploads}
    for job, ids in earlier:
        for theirs in _sets(ids, by_id):
            found = _compare(mine, theirs, by_id, job, minimum)
            if found is not None:
                return found
    return None


def too_many_evaluations(uploads: list[int], earlier: Iterable[Any], most: int,
                         kind: str = "evaluate") -> str | None:
    """Why another job of `kind` (an evaluation) over `uploads` is refused (`most` jobs of
    that kind, queued, running or done, of the `earlier` jobs already name exactly these), or
    None."""
    same = [j.id for j in earlier if j.kind == kind
            and sorted(j.spec.get("uploads") or []) == sorted(uploads)]
    if len(same) < most:
        return None
    return (f"{len(same)} evaluation jobs ({same[:5]}{'...' if len(same) > 5 else ''}) "
            f"already name these uploads; this cloud runs at most {most} over the same "
            "uploads (the counts of models chosen for it could be read back to rows): "
            "evaluate on other uploads, or ask the cloud's operator (--max-evaluations)")


def _sets(ids: list[int] | None, by_id: dict[int, Upload]) -> Iterator[set[int]]:
    """The upload sets an earlier job may have covered: its own, or, for a job of an older
    hedge that stored "all" (None) and took the uploads there were when it ran, every set of
    the first uploads in order."""
    if ids is not None:
        yield {i for i in ids if i in by_id}
        return
    ordered = sorted(by_id)
    for end in range(1, len(ordered) + 1):
        yield set(ordered[:end])


def _compare(mine: set[int], theirs: set[int], by_id: dict[int, Upload], job: int,
             minimum: int) -> str | None:
    """Why the two upload sets differ too little (module doc), or None."""
    differ = [by_id[i] for i in sorted(mine ^ theirs)]
    rows = sum(u.rows for u in differ)
    if 0 < rows < minimum:
        return (f"the job's uploads differ from those of job {job} in {rows} rows "
                f"(uploads {[u.id for u in differ]}); the difference of the two results "
                f"would give those rows: this cloud runs no job that differs from an "
                f"earlier one by fewer than {minimum} rows. Name the same uploads as job "
                f"{job}, or enough more")
    per_site: dict[int, int] = {}
    for u in differ:
        per_site[u.site_id] = per_site.get(u.site_id, 0) + u.rows
    for site, site_rows in sorted(per_site.items()):
        if 0 < site_rows < minimum:
            return (f"the job's uploads differ from those of job {job} in {site_rows} "
                    f"rows of one site (uploads "
                    f"{[u.id for u in differ if u.site_id == site]}): this cloud runs no "
                    f"job that differs from an earlier one by fewer than {minimum} rows "
                    f"of a site. Name the same uploads of that site as job {job}, or "
                    "enough more")
    return None
