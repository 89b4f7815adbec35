"""The machine and code a benchmark ran on, recorded with its results: CPU, memory, platform,
library versions, the git commit and any uncommitted changes under src/, the date (UTC)."""

from __future__ import annotations

import datetime
import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def machine_info() -> dict[str, Any]:
    cpu: dict[str, str] = {}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            key = key.strip()
            if key in ("model name", "cpu family", "model", "cpu MHz") and key not in cpu:
                cpu[key] = value.strip()
    except OSError:
        pass
    mem_gib: float | None = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_gib = int(line.split()[1]) / 2**20
    except OSError:
        pass

    def version(dist: str) -> str | None:
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            return None

    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                                capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "src"], cwd=ROOT,
                               capture_output=True, text=True, check=True).stdout.split("\n")
        modified = [line[3:] for line in dirty if line.strip()]
    except (OSError, subprocess.CalledProcessError):
        commit, modified = None, []
    return {
        "cpu_model": cpu.get("model name", platform.processor() or "unknown"),
        "cpu_family_model": f"{cpu.get('cpu family', '?')}/{cpu.get('model', '?')}",
        "cpu_mhz": cpu.get("cpu MHz"),
        "cores": os.cpu_count(),
        "ram_gib": mem_gib,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "seal_python": version("seal-python"),
        "tenseal": version("tenseal"),
        "numpy": version("numpy"),
        "hedge": version("hedge"),
        "git_commit": commit,
        "src_uncommitted_changes": modified,
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
    }
