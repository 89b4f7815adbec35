"""`hedge segment`: workforce segmentation by federated k-means, encrypted assignment, reports.

`run` plays every party on this machine, each with only its own material: one `SegmentSite` per
CSV file (its own rows), the cloud's aggregation (uploads as bytes, the public bundle only), and
the owner (keys in memory, release decryption audited, centroids signed).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import numpy as np
import pandas as pd
import typer

from hedge.audit import AuditLog
from hedge.cli._common import console, read_csv
from hedge.data import Schema
from hedge.errors import ParameterError, SchemaError
from hedge.extras import needs_extra
from hedge.files import write_atomic
from hedge.segmentation import SegmentOwner, SegmentSite, segmentation_keys
from hedge.segmentation.assign import (
    EncryptedRecords,
    assignment_keys,
    encrypted_distances,
    nearest_segments,
)
from hedge.segmentation.run import RoundReport, federated_kmeans
from hedge.segmentation.segments import Segments, numeric_schema, to_scaled

app = typer.Typer(help="Workforce segmentation: federated k-means on encrypted aggregates.",
                  no_args_is_help=True)

def _initial(path: Path, schema: Schema, k: int) -> np.ndarray:
    frame = read_csv(path)
    if len(frame) != k:
        raise SchemaError(f"{path} holds {len(frame)} initial centroids; --k is {k}")
    return to_scaled(schema, frame)


def _show(report: RoundReport) -> None:
    dropped = f", rejected {report.rejected}" if report.rejected else ""
    console.print(f"round {report.round}: {len(report.sites)} site(s), {report.changed} row(s) "
                  f"changed segment, inertia {report.inertia:.1f}{dropped}")


@app.command("run")
def run(
    sites: Annotated[list[Path], typer.Argument(help="One CSV file per site.")],
    schema_path: Annotated[Path, typer.Option("--schema", help="Schema (numeric features).")],
    k: Annotated[int, typer.Option("--k", help="Number of segments.")],
    out: Annotated[Path, typer.Option("--out", help="segments.json to write.")],
    init: Annotated[Path | None, typer.Option(help="Initial centroids (CSV, original units, "
                                                   "one row per segment).")] = None,
    seed: Annotated[int, typer.Option(help="Seed of the initialisation.")] = 0,
    restarts: Annotated[int, typer.Option(help="Runs from released statistics.")] = 3,
    max_rounds: Annotated[int, typer.Option(help="Largest number of rounds per run.")] = 100,
    audit: Annotated[Path | None, typer.Option(help="Owner's audit log (default: next to "
                                                    "--out).")] = None,
) -> None:
    """Federated k-means over the sites' files: only encrypted totals leave a site."""
    schema = numeric_schema(Schema.load(schema_path))
    if k < 1:
        raise ParameterError("--k must be at least 1")
    frames = {path.stem: read_csv(path) for path in sites}
    if len(frames) != len(sites):
        raise ParameterError("two site files share a name; give each site its own file name")
    keys = segmentation_keys(restarts, max_rounds)
    log = AuditLog(audit or out.with_suffix(".audit.jsonl"))
    owner = SegmentOwner(keys, audit=lambda event, details: log.append(event, "segment", details))
    bundle = keys.public()
    parties = [SegmentSite(name, to_scaled(schema, frame), bundle, owner.signing_key.verify_key)
               for name, frame in frames.items()]
    start = _initial(init, schema, k) if init is not None else None
    began = time.perf_counter()
    result = federated_kmeans(parties, owner, bundle, k, init=start, seed=seed,
                              restarts=restarts, max_rounds=max_rounds, progress=_show)
    segments = Segments.from_result(result, schema)
    segments.save(out)
    state = "converged" if result.converged else f"stopped after {max_rounds} rounds"
    console.print(f"{k} segments of {int(result.sizes.sum())} records ({state}, seed "
                  f"{result.seed}, {time.perf_counter() - began:.1f} s): sizes "
                  f"{[int(s) for s in result.sizes]} -> {out}")


@app.command("assign")
def assign(
    segments_path: Annotated[Path, typer.Argument(help="segments.json from `segment run`.")],
    records: Annotated[Path, typer.Argument(help="CSV of the records to assign.")],
    out: Annotated[Path, typer.Option("--out", help="labels.csv: one segment per row.")],
) -> None:
    """Encrypted assignment: the records are encrypted under a fresh key set of their owner,
    scored against the centroids on ciphertexts, and only their owner decrypts the labels."""
    segments = Segments.load(segments_path)
    schema = segments.to_schema()
    x = to_scaled(schema, read_csv(records))
    own_keys = assignment_keys(x.shape[1], segments.k)
    began = time.perf_counter()
    encrypted = EncryptedRecords.encrypt(own_keys.public(), x, segments.k)
    distances = encrypted_distances(encrypted, segments.scaled)  # the cloud's part
    labels, _ = nearest_segments(own_keys, distances, encrypted, segments.k)
    seconds = time.perf_counter() - began
    write_atomic(out, pd.DataFrame({"segment": labels}).to_csv(index=False).encode())
    console.print(f"{len(labels)} records assigned in {seconds:.2f} s "
                  f"({len(labels) / seconds:.0f} records/s) -> {out}")


@app.command("report")
def report(
    segments_path: Annotated[Path, typer.Argument(help="segments.json from `segment run`.")],
    out: Annotated[Path, typer.Option("--out", help="Folder for the report.")],
) -> None:
    """Segment profiles: sizes and feature means (CSV, Markdown) and two PNG charts (the
    'report' extra)."""
    with needs_extra("report", "`hedge segment report`"):
        from hedge.report import write_segment_report  # noqa: PLC0415 - matplotlib
    paths = write_segment_report(Segments.load(segments_path), out)
    console.print("wrote " + ", ".join(str(p) for p in paths))
