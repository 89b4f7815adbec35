"""The segment report from a segments file alone (no dataset needed)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from hedge.data import Feature, Schema
from hedge.report import write_segment_report
from hedge.segmentation.segments import Segments


def segments() -> Segments:
    schema = Schema((Feature("Age", low=18, high=60), Feature("Income", low=1000, high=20000),
                     Feature("Years", low=0, high=40)))
    scaled = np.array([[-0.5, -0.8, -0.9], [0.2, 0.0, 0.1], [0.8, 0.9, 0.7]])
    low, span = np.array([18, 1000, 0]), np.array([42, 19000, 40])
    return Segments(schema.columns, schema.to_dict(), low + (scaled + 1) / 2 * span, scaled,
                    np.array([500.0, 300.0, 200.0]), 812.5, 12, True, 0, [])


def test_report_files(tmp_path: Path) -> None:
    s = segments()
    s.save(tmp_path / "segments.json")
    loaded = Segments.load(tmp_path / "segments.json")
    assert np.allclose(loaded.centroids, s.centroids) and loaded.k == 3
    paths = write_segment_report(loaded, tmp_path / "report")
    assert [p.name for p in paths] == ["profile.csv", "report.md", "projection.png",
                                       "profile.png"]
    table = pd.read_csv(paths[0])
    assert list(table["size"]) == [500, 300, 200]
    assert np.allclose(table["share"], [0.5, 0.3, 0.2])
    assert np.allclose(table["Age"], s.centroids[:, 0])
    text = paths[1].read_text()
    assert "segment 0: Years lower" in text or "segment 0: Income lower" in text
    for png in paths[2:]:
        assert png.read_bytes()[:4] == b"\x89PNG" and png.stat().st_size > 5000
