#!/usr/bin/env python3
"""Set up hedge and run its jobs, on a fresh machine with only Python 3.11 and package registries.

    python3.11 tasks.py run     # create .venv, install hedge[all], run the main job
    python3.11 tasks.py test    # .venv with hedge[all] and the test tools: lint, type-check, test
    python3.11 tasks.py bench   # create .venv, install benchmark extras, run benchmarks/

Every step is idempotent: the virtual environment is reused when its pinned install is current.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / "bin"


def _sh(*cmd: str | Path, env: dict[str, str] | None = None) -> None:
    print("+", " ".join(str(c) for c in cmd), flush=True)
    subprocess.run([str(c) for c in cmd], cwd=ROOT, check=True, env=env)


def setup(extras: str) -> None:
    """Create .venv and install hedge with `extras`, unless that exact install is current."""
    if sys.version_info[:2] != (3, 11):
        sys.exit(f"hedge needs Python 3.11 (this is {sys.version.split()[0]}); run python3.11")
    if not (BIN / "python").exists():
        venv.EnvBuilder(with_pip=True).create(VENV)
    stamp = VENV / f".installed-{extras or 'base'}"
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if stamp.exists() and stamp.read_text() == digest:
        return
    target = f".[{extras}]" if extras else "."
    _sh(BIN / "python", "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
        "-e", target)
    stamp.write_text(digest)


def run() -> None:
    setup("all")
    _sh(BIN / "hedge", "demo", "--data-dir", "hedge-demo", "--fresh")


def test() -> None:
    setup("dev")
    _sh(BIN / "ruff", "check", "src", "tests", "benchmarks", "tasks.py")
    _sh(BIN / "mypy")
    workers = "2" if (os.cpu_count() or 1) > 1 else "0"
    _sh(BIN / "pytest", "-n", workers, "-q")


def bench() -> None:
    setup("dev,bench")
    for script in ("ckks_ops.py", "train_logistic.py", "train_ridge.py", "segment.py",
                   "pipeline.py", "ingest.py", "evaluation_error.py", "threshold.py"):
        _sh(BIN / "python", f"benchmarks/{script}")
    # a short fuzzing run, written beside the recorded 150 s run (fuzz_deserializers.json)
    _sh(BIN / "python", "benchmarks/fuzz_deserializers.py", "--seconds", "30",
        "--output", "benchmarks/results/fuzz_deserializers_short.json")


if __name__ == "__main__":
    jobs = {"run": run, "test": test, "bench": bench}
    if len(sys.argv) != 2 or sys.argv[1] not in jobs:
        sys.exit(f"usage: python3.11 tasks.py {{{'|'.join(jobs)}}}")
    try:
        jobs[sys.argv[1]]()
    except subprocess.CalledProcessError as exc:
        sys.exit(exc.returncode)
