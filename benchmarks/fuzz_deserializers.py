"""Recorded fuzzing run of every deserializer that takes bytes from another party.

The targets, their seeds (valid encodings) and the mutations are those of the CI fuzz tests
(`tests/fuzz`): each target runs in its own process for `--seconds`, with atheris
(coverage-guided libFuzzer over hedge's instrumented bytecode, with the structure-aware
mutations of `tests.fuzz.mutate` as its custom mutator, libFuzzer's own byte mutations for a
fifth of the inputs) when it is installed, or else a plain loop of the same mutations. Printed
and written to `benchmarks/results/fuzz_deserializers.json` per target: inputs tried, seconds,
outcomes (accepted, each `HedgeError` subclass, skipped by the harness), and failures: any
other exception, an unexpected `HedgeError` subclass, or an input slower than the target's
time bound, each saved as a reproducer under `benchmarks/results/fuzz_reproducers/<target>/`
(read it back with `Path(...).read_bytes()` and pass it to the target's `run`). atheris comes
with the `bench` extra (`python3.11 tasks.py bench`, which runs 30 s per target); without it,
pass `--engine mutate`.

    nice -n 10 .venv/bin/python benchmarks/fuzz_deserializers.py [--seconds 120]
        [--targets dataset bundle ...] [--engine atheris|mutate] [--output PATH]
"""

from __future__ import annotations

import argparse
import collections
import hashlib
import importlib
import importlib.util
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import time
import traceback
import warnings
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from machine_info import machine_info

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).parent / "results" / "fuzz_deserializers.json"
REPRODUCERS = Path(__file__).parent / "results" / "fuzz_reproducers"
console = Console(width=150)


def _targets_module() -> Any:
    """`tests.fuzz.targets` (importable from the checkout's root)."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from tests.fuzz import targets

    return targets


class Tally:
    """Outcomes of one target's inputs, saved to `path` as JSON now and then (a libFuzzer
    process ends without running Python's exit handlers)."""

    def __init__(self, name: str, path: Path, budget: float) -> None:
        self.name, self.path, self.budget = name, path, budget
        self.start = time.monotonic()
        self.inputs = 0
        self.outcomes: collections.Counter[str] = collections.Counter()
        self.failures: list[dict[str, Any]] = []
        self.slowest = 0.0
        self._saved = 0.0

    def record(self, data: bytes, run: Any, time_bound: float) -> None:
        began = time.perf_counter()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # numpy's overflow warnings on huge centroids
                result = run(data)
        except BaseException as exc:  # anything at all escaping the parser is the finding
            if isinstance(exc, KeyboardInterrupt | SystemExit):
                raise
            self._fail(data, f"{type(exc).__name__}: {exc}"[:300],
                       "".join(traceback.format_exception(exc))[-3000:])
            result = "failure"
        elapsed = time.perf_counter() - began
        self.slowest = max(self.slowest, elapsed)
        if elapsed > time_bound and result != "failure":
            self._fail(data, f"took {elapsed:.1f} s, beyond the {time_bound} s bound", "")
            result = "failure"
        self.inputs += 1
        self.outcomes[result] += 1
        now = time.monotonic()
        if result == "failure" or now - self._saved > 1.0:
            self.save()

    def _fail(self, data: bytes, what: str, trace: str) -> None:
        digest = hashlib.sha1(data).hexdigest()[:16]
        folder = REPRODUCERS / self.name
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{digest}.bin"
        path.write_bytes(data)
        if len(self.failures) < 50:
            self.failures.append({"error": what, "reproducer": str(path.relative_to(ROOT)),
                                  "bytes": len(data), "traceback": trace})

    @property
    def done(self) -> bool:
        return time.monotonic() - self.start >= self.budget

    def save(self) -> None:
        self._saved = time.monotonic()
        self.path.write_text(json.dumps({
            "inputs": self.inputs, "seconds": round(self._saved - self.start, 2),
            "outcomes": dict(self.outcomes.most_common()), "failures": self.failures,
            "slowest_input_seconds": round(self.slowest, 3)}))


def _worker_mutate(name: str, seconds: float, stats: Path, seed: int) -> None:
    targets = _targets_module()
    from tests.fuzz.mutate import RandomChoices, mutate_many

    target = targets.TARGETS[name]
    seeds: list[bytes] = target.seeds()
    tally = Tally(name, stats, seconds)
    rng = random.Random(seed)
    choices = RandomChoices(rng)
    for data in seeds:
        tally.record(data, target.run, target.time_bound)
    while not tally.done:
        tally.record(mutate_many(choices, rng.choice(seeds), seeds), target.run,
                     target.time_bound)
    tally.save()


def _worker_atheris(name: str, seconds: float, stats: Path, seed: int) -> None:
    """libFuzzer writes what kills the process (crash-*, timeout-*, oom-*) next to `stats`,
    and its growing corpus into `corpus` there."""
    atheris: Any = importlib.import_module("atheris")  # not a dependency of hedge (no stubs)

    with atheris.instrument_imports(include=["hedge"]):
        targets = _targets_module()
    from tests.fuzz.mutate import RandomChoices, mutate_many

    target = targets.TARGETS[name]
    seeds: list[bytes] = target.seeds()
    tally = Tally(name, stats, seconds)
    corpus = stats.parent / "corpus"  # libFuzzer adds what reaches new code; removed after
    corpus.mkdir()
    for i, data in enumerate(seeds):
        (corpus / f"seed-{i}").write_bytes(data)

    def one_input(data: bytes) -> None:
        tally.record(data, target.run, target.time_bound)
        if tally.done:
            tally.save()
            os._exit(0)

    def mutator(data: bytes, max_size: int, mutation_seed: int) -> bytes:
        rng = random.Random(mutation_seed)
        if rng.random() < 0.2:
            return bytes(atheris.Mutate(data, max_size))
        return mutate_many(RandomChoices(rng), data, seeds)[:max_size]

    largest = max(len(s) for s in seeds)
    argv = [sys.argv[0], str(corpus), f"-seed={seed}", f"-max_len={2 * largest + 4096}",
            f"-max_total_time={int(seconds) + 30}", f"-timeout={int(4 * target.time_bound) + 5}",
            "-rss_limit_mb=8192", f"-artifact_prefix={stats.parent}/", "-print_final_stats=1"]
    atheris.Setup(argv, one_input, custom_mutator=mutator)
    atheris.Fuzz()


def _run_target(name: str, seconds: float, engine: str, seed: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        stats = Path(tmp) / "stats.json"
        command = [sys.executable, __file__, "--worker", name, "--seconds", str(seconds),
                   "--engine", engine, "--stats", str(stats), "--seed", str(seed)]
        began = time.monotonic()
        done = subprocess.run(command, capture_output=True, text=True, check=False,
                              timeout=seconds + 600)
        wall = time.monotonic() - began
        result: dict[str, Any] = (json.loads(stats.read_text()) if stats.exists() else
                                  {"inputs": 0, "seconds": 0.0, "outcomes": {}, "failures": []})
        corpus = Path(tmp) / "corpus"
        if corpus.exists():
            result["corpus_inputs"] = sum(1 for _ in corpus.iterdir())
        for artifact in Path(tmp).glob("*-*"):  # libFuzzer's crash-, timeout-, oom- inputs
            folder = REPRODUCERS / name
            folder.mkdir(parents=True, exist_ok=True)
            (folder / artifact.name).write_bytes(artifact.read_bytes())
            result["failures"].append({"error": f"libFuzzer kept {artifact.name}",
                                       "reproducer": str((folder / artifact.name)
                                                         .relative_to(ROOT))})
    result["wall_seconds"] = round(wall, 1)
    result["exit_code"] = done.returncode
    if done.returncode != 0:  # a crash in native code, a libFuzzer timeout or out of memory
        result["failures"].append({"error": f"the fuzzing process ended with code "
                                            f"{done.returncode}", "output": done.stderr[-3000:]})
    coverage = re.findall(r"cov: (\d+) ft: (\d+)", done.stderr)
    if coverage:
        result["libfuzzer_coverage"] = {"cov": int(coverage[-1][0]), "ft": int(coverage[-1][1])}
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--seconds", type=float, default=120.0, help="per target")
    parser.add_argument("--targets", nargs="+", default=None)
    parser.add_argument("--engine", choices=["atheris", "mutate"], default=None)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--output", type=Path, default=RESULTS)
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--stats", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    engine = args.engine or ("atheris" if importlib.util.find_spec("atheris") else "mutate")
    if args.worker:
        worker = _worker_atheris if engine == "atheris" else _worker_mutate
        worker(args.worker, args.seconds, args.stats, args.seed)
        return
    targets = _targets_module()
    names = args.targets or list(targets.TARGETS)
    machine = machine_info()
    console.print(f"engine {engine}, {args.seconds:g} s per target, {len(names)} targets, "
                  f"commit {machine['git_commit']} (uncommitted: "
                  f"{', '.join(machine['src_uncommitted_changes']) or 'none'})")
    results: dict[str, Any] = {}
    for name in names:
        results[name] = _run_target(name, args.seconds, engine, args.seed)
        r = results[name]
        console.print(f"{name}: {r['inputs']:,} inputs in {r['seconds']} s, "
                      f"{len(r['failures'])} failure(s)")
    table = Table(title=f"Fuzzing hedge's deserializers ({engine}, {args.seconds:g} s per "
                        "target)")
    for column in ("target", "inputs", "seconds", "inputs/s", "accepted", "HedgeError raised",
                   "skipped", "failures", "slowest s"):
        table.add_column(column, justify="right" if column != "HedgeError raised" else "left")
    for name, r in results.items():
        outcomes = dict(r["outcomes"])
        accepted, skipped = outcomes.pop("accepted", 0), outcomes.pop("skipped", 0)
        failures = outcomes.pop("failure", 0) + (r["exit_code"] != 0)
        raised = ", ".join(f"{k} {v:,}" for k, v in outcomes.items())
        table.add_row(name, f"{r['inputs']:,}", f"{r['seconds']:.0f}",
                      f"{r['inputs'] / max(r['seconds'], 1e-9):,.0f}", f"{accepted:,}", raised,
                      f"{skipped:,}", str(failures), f"{r.get('slowest_input_seconds', 0):.2f}")
    console.print(table)
    expected = targets.EXPECTED
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps({
        "machine": machine, "engine": engine, "seconds_per_target": args.seconds,
        "seed": args.seed, "fixtures": targets.environment(),
        "targets": {n: {"raises": expected[n], **r} for n, r in results.items()},
        "total_inputs": sum(r["inputs"] for r in results.values()),
        "total_failures": sum(len(r["failures"]) for r in results.values())}, indent=2) + "\n")
    console.print(f"written to {args.output}")


if __name__ == "__main__":
    main()
