"""Differencing between jobs: whether a new job's uploads differ from an earlier job's by so few
rows that the two results, decrypted by the owner, would give those rows' contribution.

Two jobs over upload sets U and V release f(U) and f(V); for sums (statistics, evaluation
counts) f(U) - f(V) is the sum over the uploads in U but not in V minus those in V but not in
U, and a model trained on U against one trained on V shows the same rows' influence. So the
cloud refuses a job unless, against every earlier job of the consortium, the rows of the
symmetric difference U ^ V are none or at least the minimum, in all and within each site (a
difference made of one site's few rows and another site's many would otherwise isolate the few
to whoever knows the many, such as an owner that uploaded them itself).

What this does not stop (docs/security.md): combinations of three or more jobs (U1 + U3 - U2
can isolate what no pair does), and an owner that pads jobs with uploads of its own; the row
minimum, the flooding noise, the release budget and the audit log remain the defences there.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

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
        theirs = set(by_id) if ids is None else {i for i in ids if i in by_id}
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
