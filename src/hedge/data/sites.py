"""Example site files from the public datasets: one CSV per site and a held-out file, so that the
command-line walkthroughs (README, docs/learning.md, docs/segmentation.md) run as written.

Rows are shuffled with a seed, a held-out share is put aside (stratified by the label where the
set has a binary one), and the rest is dealt to the sites in equal parts (stratified likewise), as
if each site were one customer's plant or company. Columns stay as published, except AI4I's row
ids and failure-mode flags, which would give the label away.
"""

from __future__ import annotations

import functools
import string
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from hedge.data.datasets import IDASH_SETS, load_ai4i, load_hr, load_idash
from hedge.errors import ParameterError
from hedge.files import write_atomic

__all__ = ["AI4I_LEAKS", "EXAMPLE_SETS", "SiteFiles", "split_sites", "write_sites"]

#: AI4I 2020 columns that identify rows or give the label away (its failure-mode flags).
AI4I_LEAKS = ("UDI", "Product ID", "TWF", "HDF", "PWF", "OSF", "RNF")

#: name -> (loader, label column or None)
EXAMPLE_SETS: dict[str, tuple[Callable[[], pd.DataFrame], str | None]] = {
    **{name: (functools.partial(load_idash, name), "y") for name in IDASH_SETS},
    "ai4i": (lambda: load_ai4i().drop(columns=list(AI4I_LEAKS)), "Machine failure"),
    "hr": (load_hr, "Attrition"),
}
_MAX_SITES = 26


@dataclass(frozen=True)
class SiteFiles:
    """What `write_sites` wrote: one file per site (site-a.csv, ...) and the held-out rows."""

    sites: list[Path]
    holdout: Path | None


def split_sites(frame: pd.DataFrame, sites: int, *, holdout: float = 0.2, seed: int = 0,
                label: str | None = None) -> tuple[list[pd.DataFrame], pd.DataFrame]:
    """(site frames, held-out frame): rows shuffled with `seed`, a `holdout` share put aside,
    the rest dealt to `sites` equal parts; stratified by `label` when given. `ParameterError`
    when a site or the held-out share would get no row."""
    if not 1 <= sites <= _MAX_SITES:
        raise ParameterError(f"--sites must be between 1 and {_MAX_SITES}, got {sites}")
    if not 0.0 <= holdout < 1.0:
        raise ParameterError(f"--holdout must be a share in [0, 1), got {holdout}")
    rng = np.random.default_rng(seed)
    groups = [frame.index.to_numpy()] if label is None else \
        [g.index.to_numpy() for _, g in frame.groupby(label, sort=True)]
    kept: list[np.ndarray] = []
    parts: list[list[np.ndarray]] = [[] for _ in range(sites)]
    for group in groups:
        index = rng.permutation(group)
        n_held = round(len(index) * holdout)
        kept.append(index[:n_held])
        for i, chunk in enumerate(np.array_split(index[n_held:], sites)):
            parts[i].append(chunk)
    site_frames = [frame.loc[np.sort(np.concatenate(p))] for p in parts]
    held = frame.loc[np.sort(np.concatenate(kept))]
    if any(f.empty for f in site_frames) or (holdout > 0 and held.empty):
        raise ParameterError(f"{len(frame)} rows are too few for {sites} sites and a held-out "
                             f"share of {holdout}; choose fewer sites")
    return site_frames, held


def write_sites(name: str, out: Path, sites: int, *, holdout: float = 0.2,
                seed: int = 0) -> SiteFiles:
    """Split the public set `name` (`EXAMPLE_SETS`) into OUT/site-a.csv, site-b.csv, ... and
    OUT/holdout.csv (not written when `holdout` is 0). Existing files are replaced."""
    if name not in EXAMPLE_SETS:
        raise ParameterError(f"unknown dataset {name!r}; choose one of {', '.join(EXAMPLE_SETS)}")
    load, label = EXAMPLE_SETS[name]
    frames, held = split_sites(load(), sites, holdout=holdout, seed=seed, label=label)
    paths = [out / f"site-{letter}.csv" for letter in string.ascii_lowercase[:sites]]
    for path, frame in zip(paths, frames, strict=True):
        write_atomic(path, frame.to_csv(index=False).encode())
    held_path = out / "holdout.csv" if holdout > 0 else None
    if held_path is not None:
        write_atomic(held_path, held.to_csv(index=False).encode())
    return SiteFiles(paths, held_path)
