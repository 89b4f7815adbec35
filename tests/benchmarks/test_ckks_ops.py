"""benchmarks/ckks_ops.py runs end to end (one repetition of every section, fast preset) and its
own correctness figures hold: a benchmark that no longer runs, or that times a wrong result, fails
here instead of when the figures are next recorded. Its timings are not checked (BENCHMARKS.md)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import TOL

Results = dict[str, Any]
SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "ckks_ops.py"


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> Results:
    pytest.importorskip("tenseal", reason="TenSEAL (the benchmark's reference) is not installed")
    output = tmp_path_factory.mktemp("bench") / "ckks_ops.json"
    done = subprocess.run([sys.executable, str(SCRIPT), "--presets", "fast", "--smoke",
                           "--output", str(output)],
                          check=False, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    data: Results = json.loads(output.read_text())
    return data


def test_every_target_is_measured(results: Results) -> None:
    items = [row["item"] for row in results["summary"]]
    for target in ("overhead vs raw seal-python", "sum() of 4096 values vs TenSEAL",
                   "matmul 64x8 vs TenSEAL", "matmul 128x128 vs TenSEAL", "CkksPool 2 vs 1"):
        assert any(item.startswith(target) for item in items), target
    assert all(isinstance(row["met"], bool) for row in results["summary"])


def test_timed_results_are_right(results: Results) -> None:
    fast = results["presets"]["fast"]
    errors = [*(op["hedge_max_error"] for op in fast["operations"]),
              *(op["raw_max_error"] for op in fast["operations"]),
              *(row["hedge_max_error"] for row in fast["tenseal"]["rows"]),
              fast["pool"]["max_error"]]
    measured = [e for e in errors if e is not None]
    assert len(measured) >= 20
    assert max(measured) < TOL
    # the TenSEAL reference computes the same thing (its own CKKS error is larger)
    assert max(row["tenseal_max_error"] for row in fast["tenseal"]["rows"]) < 1e-3


def test_sizes_are_recorded(results: Results) -> None:
    fast = results["presets"]["fast"]
    assert fast["throughput"]["bytes_per_value"] == pytest.approx(
        fast["throughput"]["raw_bytes_per_value"], rel=0.01)
    assert fast["bundle"]["measured"] is True
    assert fast["bundle"]["bundle_bytes"] == pytest.approx(fast["bundle"]["estimated_bytes"],
                                                           rel=0.02)
