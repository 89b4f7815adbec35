"""Example site files: a partition of the rows, stratified, reproducible; clear refusals."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from hedge.data import split_sites, write_sites
from hedge.data.sites import AI4I_LEAKS
from hedge.errors import ParameterError


def frame(n: int = 100, positives: int = 20) -> pd.DataFrame:
    labels = [1] * positives + [0] * (n - positives)
    return pd.DataFrame({"x": np.arange(n, dtype=float), "y": labels})


@pytest.mark.parametrize(("sites", "holdout"), [(1, 0.0), (2, 0.2), (3, 0.25), (7, 0.1)])
def test_sites_and_holdout_partition_the_rows(sites: int, holdout: float) -> None:
    data = frame()
    parts, held = split_sites(data, sites, holdout=holdout, seed=3, label="y")
    together = pd.concat([*parts, held])
    assert sorted(together["x"]) == list(data["x"])  # every row once
    assert len(held) == round(20 * holdout) + round(80 * holdout)
    sizes = [len(p) for p in parts]
    assert max(sizes) - min(sizes) <= 2  # equal parts (one row per class at most)
    assert all(abs(p["y"].sum() - (20 - round(20 * holdout)) / sites) <= 1 for p in parts)


def test_the_seed_fixes_the_split_and_another_seed_changes_it() -> None:
    a, _ = split_sites(frame(), 2, seed=1, label="y")
    b, _ = split_sites(frame(), 2, seed=1, label="y")
    c, _ = split_sites(frame(), 2, seed=2, label="y")
    assert a[0].equals(b[0]) and not a[0].equals(c[0])


def test_without_a_label_rows_are_dealt_unstratified() -> None:
    parts, held = split_sites(frame(10, 0), 2, holdout=0.2)
    assert [len(p) for p in parts] == [4, 4] and len(held) == 2


@pytest.mark.parametrize(("sites", "holdout", "words"), [
    (0, 0.2, "--sites"), (27, 0.2, "--sites"), (2, 1.0, "--holdout"), (2, -0.1, "--holdout"),
    (20, 0.5, "too few")])
def test_impossible_splits_are_refused(sites: int, holdout: float, words: str) -> None:
    with pytest.raises(ParameterError, match=words):
        split_sites(frame(20, 4), sites, holdout=holdout, label="y")


def test_unknown_dataset_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ParameterError, match=r"unknown dataset 'nope'.*edin"):
        write_sites("nope", tmp_path, 2)
    assert not any(tmp_path.iterdir())


@pytest.mark.datasets
def test_ai4i_sites_lack_ids_and_failure_modes(tmp_path: Path) -> None:
    written = write_sites("ai4i", tmp_path, 3, holdout=0.0)
    assert [p.name for p in written.sites] == ["site-a.csv", "site-b.csv", "site-c.csv"]
    assert written.holdout is None and not (tmp_path / "holdout.csv").exists()
    site = pd.read_csv(written.sites[0])
    assert "Machine failure" in site.columns and not set(AI4I_LEAKS) & set(site.columns)
    assert sum(len(pd.read_csv(p)) for p in written.sites) == 10_000
