"""CKKS error of the encrypted evaluation's released sums, against the rows they add up.

A logistic model (scikit-learn on synthetic rows, 8 features scaled into [-1, 1]) is scored
under encryption (`hedge.ml.evaluation.evaluate`, `standard` preset) and the four sums the
owner releases (squared errors, and the confusion sums A = sum c_i y'_i, B = sum c_i,
S = sum y'_i) are decrypted exactly and compared with the same arithmetic in float64 on the
same rows (the sign and sigmoid polynomials of the encrypted computation): what is left is the
CKKS error the release's public bound t must cover. Two sweeps:

* rows: 1,024 to 32,768 rows of the typical case (margins spread over [-R, R]);
* margins at 4,096 rows: typical, all at the decision boundary (features near 0), all near
  +-R (every feature at the corner the weights point to), and a wide bound (weights times 3,
  margins up to 29: beyond the range of the sigmoid polynomial fitted on [-8, 8]).

Printed side by side with the bounds the release states for that many rows
(`hedge.ml.metrics.brier_release_error`, `hedge.ml.confusion.release_error`), their ratio to
the measured error, and the flooding noise the release then adds to the Brier score and to
each count.

    .venv/bin/python benchmarks/evaluation_error.py [--rows 1024 8192 32768] [--repeats 2]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table
from sklearn.linear_model import LogisticRegression

from hedge.ckks import KeySet
from hedge.ckks.hazmat import decrypt_exact
from hedge.ckks.release import flooding_sigma
from hedge.ml import EncryptedDataset, LinearModel
from hedge.ml.confusion import release_error
from hedge.ml.evaluation import evaluate, reference_sums
from hedge.ml.metrics import brier_release_error
from hedge.ml.model import EncryptedLinearModel
from machine_info import machine_info

console = Console(width=160)
RESULTS = Path(__file__).parent / "results" / "evaluation_error.json"
FEATURES = 8
CASES = ("typical", "boundary", "extreme", "wide")


def synthetic(rows: int, seed: int, case: str = "typical"
              ) -> tuple[np.ndarray, np.ndarray, LinearModel]:
    """Rows in [-1, 1], labels from a noisy logistic rule, scikit-learn's model of them, and
    the margins `case` asks for (module doc)."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1.0, 1.0, (rows, FEATURES))
    truth = rng.normal(0.0, 1.5, FEATURES)
    y = (rng.uniform(size=rows) < 1.0 / (1.0 + np.exp(-(x @ truth - 0.5)))).astype(float)
    fitted = LogisticRegression().fit(x, y)
    model = LinearModel([f"x{j}" for j in range(FEATURES)], float(fitted.intercept_[0]),
                        fitted.coef_[0].copy())
    if case == "boundary":
        x = rng.uniform(-0.01, 0.01, x.shape)
        model = LinearModel(model.columns, 0.0, model.coef)
    elif case == "extreme":
        x = 0.999 * np.sign(model.coef)[None, :] * np.where(rng.uniform(size=x.shape) < 0.9,
                                                            1.0, -1.0)
    elif case == "wide":
        model = LinearModel(model.columns, 3 * model.intercept, 3 * model.coef)
    return x, y, model


def measure(keys: KeySet, rows: int, repeats: int, case: str = "typical") -> dict[str, Any]:
    x, y, model = synthetic(rows, rows, case)
    bundle = keys.public()
    errors, seconds = [], []
    for _ in range(repeats):
        data = EncryptedDataset.encrypt(bundle, x, y, model.columns)
        start = time.perf_counter()
        result = evaluate(data, EncryptedLinearModel.encrypt(model, bundle))
        seconds.append(time.perf_counter() - start)
        c = result.confusion
        exact = reference_sums(x, y, model, c.approximation)
        found = np.array([decrypt_exact(keys, result.squared_errors)[0],
                          *decrypt_exact(keys, c.sums)[[0, 1, c.width]]])
        errors.append(np.abs(found - exact))
    worst = np.max(errors, axis=0)
    t_brier, t_counts = brier_release_error(rows), release_error(rows, c.approximation)
    margins = (2 * y - 1) * (model.intercept + x @ model.coef)
    return {"case": case, "rows": rows, "repeats": repeats, "seconds": float(np.mean(seconds)),
            "margin_bound": model.margin_bound(), "max_margin": float(np.abs(margins).max()),
            "error_squared_errors": float(worst[0]), "error_a": float(worst[1]),
            "error_b": float(worst[2]), "error_s": float(worst[3]),
            "t_squared_errors": t_brier, "t_counts": t_counts,
            "ratio_squared_errors": t_brier / float(worst[0]),
            "ratio_counts": t_counts / float(worst[1:].max()),
            "brier_noise": flooding_sigma(t_brier, 1, keys.max_releases) / rows,
            "count_noise": flooding_sigma(t_counts, len(c.released), keys.max_releases)}


def show(title: str, results: list[dict[str, Any]]) -> None:
    table = Table(title=title)
    for column in ("case", "rows", "R", "max |m|", "sq. errors", "t (sq.)", "t / error",
                   "A, B, S (worst)", "t (counts)", "t / error", "Brier noise", "count noise",
                   "seconds"):
        table.add_column(column, justify="right")
    for r in results:
        counts = max(r["error_a"], r["error_b"], r["error_s"])
        table.add_row(r["case"], f"{r['rows']:,}", f"{r['margin_bound']:.1f}",
                      f"{r['max_margin']:.1f}", f"{r['error_squared_errors']:.2e}",
                      f"{r['t_squared_errors']:.2e}", f"{r['ratio_squared_errors']:.0f}",
                      f"{counts:.2e}", f"{r['t_counts']:.2e}", f"{r['ratio_counts']:.0f}",
                      f"{r['brier_noise']:.2e}", f"{r['count_noise']:.2f}",
                      f"{r['seconds']:.1f}")
    console.print(table)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[1024, 8192, 32768])
    parser.add_argument("--case-rows", type=int, default=4096)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    keys = KeySet.generate("standard", rotations=None)
    by_rows = [measure(keys, rows, args.repeats) for rows in args.rows]
    show(f"CKKS error of the released sums by rows (standard; worst of {args.repeats})", by_rows)
    by_case = [measure(keys, args.case_rows, args.repeats, case) for case in CASES]
    show(f"... by margins, {args.case_rows:,} rows", by_case)
    RESULTS.write_text(json.dumps({"machine": machine_info(), "by_rows": by_rows,
                                   "by_case": by_case}, indent=2) + "\n")
    console.print(f"written to {RESULTS}")


if __name__ == "__main__":
    main()
