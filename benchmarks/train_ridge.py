"""Encrypted ridge regression for remaining useful life (NASA C-MAPSS FD001).

Features: the 14 informative sensors, scaled to [-1, 1] with the training ranges; target: RUL
clipped at 125 cycles (the usual piecewise-linear degradation target), scaled to [-1, 1].
Test: the last cycle of each of the 100 test engines against the published RUL_FD001.
One run prints the encrypted model's test RMSE beside scikit-learn `Ridge` on the same features
(target: within 5 %), for one site and for the engines split across 3 sites, with training time,
evaluation-key bundle size, bytes uploaded per site and peak memory.

    .venv/bin/python benchmarks/train_ridge.py
"""

from __future__ import annotations

import json
import resource
import time
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table
from sklearn.linear_model import Ridge

from hedge.ckks import KeySet
from hedge.data import Schema, load_cmapss
from hedge.ml import EncryptedDataset, EncryptedRidge, RowLayout

console = Console(width=150)
RESULTS = Path(__file__).parent / "results" / "train_ridge.json"
SENSORS = ["s2", "s3", "s4", "s7", "s8", "s9", "s11", "s12", "s13", "s14", "s15", "s17", "s20",
           "s21"]
CLIP, ALPHA, TARGET = 125, 1.0, 0.05


def main() -> None:
    start_all = time.perf_counter()
    train, test = load_cmapss("FD001")
    train["RUL"] = train["RUL"].clip(upper=CLIP)
    schema = Schema.infer(train[[*SENSORS, "RUL"]], label="RUL")
    label = schema.label
    assert label is not None
    span = label.high - label.low
    x = schema.features_matrix(train)
    y = 2 * (schema.label_vector(train) - label.low) / span - 1
    last = test.groupby("unit").tail(1)
    x_test = schema.features_matrix(last, out_of_range="clip")
    y_test = np.minimum(last["RUL"].to_numpy(float), CLIP)

    def rmse(scaled: np.ndarray) -> float:
        return float(np.sqrt(np.mean((label.low + (scaled + 1) / 2 * span - y_test) ** 2)))

    reference = rmse(Ridge(alpha=ALPHA).fit(x, y).predict(x_test))
    start = time.perf_counter()
    keys = KeySet.generate("standard", rotations=sorted(RowLayout(15, 8192).rotation_steps()),
                           max_releases=2**10)
    keygen = time.perf_counter() - start
    bundle = keys.public()
    rows: list[dict[str, Any]] = []
    units = train["unit"].to_numpy()
    for sites in (1, 3):
        groups = np.array_split(np.unique(units), sites)
        start = time.perf_counter()
        parts = [EncryptedDataset.encrypt_regression(bundle, x[np.isin(units, g)],
                                                     y[np.isin(units, g)], schema.columns,
                                                     alpha=ALPHA) for g in groups]
        encrypt_s = (time.perf_counter() - start) / sites
        upload = float(np.mean([len(p.to_bytes()) for p in parts]))
        data = EncryptedDataset.concat(parts)
        start = time.perf_counter()
        model = EncryptedRidge(iterations=3).fit(data)
        train_s = time.perf_counter() - start
        released = model.decrypt(keys)
        got = rmse(released.decision_function(x_test))
        rows.append({"sites": sites, "rmse": got, "sklearn_rmse": reference,
                     "within": abs(got - reference) <= TARGET * reference, "train_s": train_s,
                     "encrypt_s_per_site": encrypt_s, "upload_bytes_per_site": upload})
    res: dict[str, Any] = {"rows": len(y), "test_engines": len(y_test), "keygen_s": keygen,
           "bundle_bytes": len(bundle.to_bytes()), "results": rows,
           "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
           "total_s": time.perf_counter() - start_all}
    t = Table(title=f"C-MAPSS FD001 remaining useful life, ridge (alpha={ALPHA}), RMSE on the "
              "100 test engines (cycles)")
    for col in ("sites", "encrypted RMSE", "sklearn Ridge RMSE", "within 5 %", "train s",
                "encrypt s / site", "upload MB / site"):
        t.add_column(col, justify="right")
    for r in rows:
        t.add_row(str(r["sites"]), f"{r['rmse']:.2f}", f"{r['sklearn_rmse']:.2f}",
                  "[green]yes[/green]" if r["within"] else "[red]NO[/red]",
                  f"{r['train_s']:.1f}", f"{r['encrypt_s_per_site']:.1f}",
                  f"{r['upload_bytes_per_site'] / 1e6:.1f}")
    console.print(t)
    console.print(f"{res['rows']} training rows; evaluation-key bundle "
                  f"{res['bundle_bytes'] / 1e6:.0f} MB (keys in {keygen:.1f} s); peak memory "
                  f"{res['peak_rss_mb']:.0f} MB; total {res['total_s']:.0f} s")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(res, indent=2) + "\n")


if __name__ == "__main__":
    main()
