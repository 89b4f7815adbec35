"""`hedge segment run / assign / report` on the HR data split across three site files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score

from hedge.data import Schema, load_hr
from hedge.errors import SchemaError
from hedge.segmentation.segments import HR_PROFILE_FEATURES, Segments
from tests.cli.invoke import invoker

pytestmark = pytest.mark.datasets  # needs ../shared/datasets (skipped without it)



hedge = invoker()


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("segments")
    hr = load_hr()
    for name, rows in zip("abc", np.array_split(np.arange(len(hr)), 3), strict=True):
        hr.iloc[rows].to_csv(d / f"site-{name}.csv", index=False)
    hr.to_csv(d / "ranges.csv", index=False)  # stands for ranges the parties agreed on
    options = [a for f in HR_PROFILE_FEATURES for a in ("--only", f)]
    hedge("schema", "infer", d / "ranges.csv", *options, "--out", d / "schema.json")
    hr.iloc[::7][HR_PROFILE_FEATURES].iloc[:4].to_csv(d / "init.csv", index=False)
    hr.iloc[:150].to_csv(d / "records.csv", index=False)
    return d


def test_run_assign_report(folder: Path) -> None:
    d = folder
    hedge("segment", "run", d / "site-a.csv", d / "site-b.csv", d / "site-c.csv", "--schema",
          d / "schema.json", "--k", 4, "--init", d / "init.csv", "--out", d / "segments.json")
    segments = Segments.load(d / "segments.json")
    body = json.loads((d / "segments.json").read_text())
    assert body["k"] == 4 and sum(body["sizes"]) == 1470 and body["converged"]
    # centroids in original units: the same k-means as scikit-learn from the same start
    schema = Schema.load(d / "schema.json")
    hr = load_hr()
    x = schema.features_matrix(hr)
    init = schema.features_matrix(pd.read_csv(d / "init.csv"))
    scaled = KMeans(n_clusters=4, init=init, n_init=1, tol=0.0).fit(x)
    assert np.allclose(segments.scaled, scaled.cluster_centers_, atol=1e-4)
    income = HR_PROFILE_FEATURES.index("MonthlyIncome")
    assert 1000 < segments.centroids[:, income].min() < segments.centroids[:, income].max() < 2e4
    assert (d / "segments.audit.jsonl").exists()

    hedge("segment", "assign", d / "segments.json", d / "records.csv", "--out", d / "labels.csv")
    labels = pd.read_csv(d / "labels.csv")["segment"].to_numpy()
    assert len(labels) == 150
    assert adjusted_rand_score(scaled.predict(x[:150]), labels) == 1.0

    hedge("segment", "report", d / "segments.json", "--out", d / "report")
    for name in ("profile.csv", "report.md", "projection.png", "profile.png"):
        assert (d / "report" / name).stat().st_size > 100
    assert (d / "report" / "projection.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    profile = pd.read_csv(d / "report" / "profile.csv")
    assert list(profile["size"]) == body["sizes"]
    assert "segment 0" in (d / "report" / "report.md").read_text()
    pd.DataFrame({"Age": [30]}).to_csv(d / "few.csv", index=False)
    with pytest.raises(SchemaError, match="lacks column"):
        hedge("segment", "assign", d / "segments.json", d / "few.csv", "--out", d / "l.csv")


def test_clear_errors(folder: Path, tmp_path: Path) -> None:
    d = folder
    with pytest.raises(SchemaError, match="4 initial centroids"):
        hedge("segment", "run", d / "site-a.csv", "--schema", d / "schema.json", "--k", 3,
              "--init", d / "init.csv", "--out", tmp_path / "s.json")
    categorical = Schema.infer(load_hr()[["Age", "Department"]])
    categorical.save(tmp_path / "cat.json")
    with pytest.raises(SchemaError, match="numeric features only"):
        hedge("segment", "run", d / "site-a.csv", "--schema", tmp_path / "cat.json", "--k", 2,
              "--out", tmp_path / "s.json")
    with pytest.raises(SchemaError, match="no column"):
        hedge("schema", "infer", d / "ranges.csv", "--only", "Nope", "--out", tmp_path / "x")
    (tmp_path / "junk.json").write_text('{"version": 1, "k": 2}')
    with pytest.raises(SchemaError, match=r"junk.json \(hedge segments\): field 'features'"):
        hedge("segment", "report", tmp_path / "junk.json", "--out", tmp_path / "r")
