"""From an intake's rows to the frame the agent buffers and scores: rolling-window features per
machine, then the schema's checks.

A file is taken or refused whole (`SchemaError`). Stream rows are checked as a whole first and,
only if that fails, one by one: the rows that break the schema are rejected (to the rejected
log, each with its reason) and the others go on, so one bad reading does not hold back its
neighbours.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from hedge.data import RollingWindows, Schema
from hedge.edge.connectors import Intake
from hedge.edge.streams import StreamIntake
from hedge.errors import HedgeError

__all__ = ["prepare"]

FILE_STREAM = "files"  # the stream rows from files belong to, for window features


def _problem(schema: Schema, row: dict[str, Any]) -> str | None:
    frame = pd.DataFrame([row])
    try:
        schema.features_matrix(frame)
        schema.label_vector(frame)
    except HedgeError as exc:
        return str(exc)
    return None


def _windowed(windows: RollingWindows, rows: list[dict[str, Any]],
              streams: list[str]) -> list[dict[str, Any]]:
    """`rows` with their window features, each stream's rows in order."""
    out: list[dict[str, Any]] = list(rows)
    for stream in dict.fromkeys(streams):
        at = [i for i, s in enumerate(streams) if s == stream]
        for i, row in zip(at, windows.apply([rows[i] for i in at], stream), strict=True):
            out[i] = row
    return out


def _numeric(value: Any) -> bool:
    return (isinstance(value, int | float) and not isinstance(value, bool)
            and math.isfinite(value))


def prepare(schema: Schema, windows: RollingWindows, intake: Intake) -> pd.DataFrame | None:
    """The checked frame of `intake`'s rows (None: every row was rejected)."""
    if not isinstance(intake, StreamIntake):
        frame = pd.DataFrame(_windowed(windows, intake.rows, [FILE_STREAM] * len(intake.rows)))
        schema.features_matrix(frame)
        schema.label_vector(frame)
        return frame
    sources = [w.source for w in schema.windows]
    _reject(intake, {i: f"window source {c!r} is {row.get(c)!r}, not a finite number"
                     for i, row in enumerate(intake.rows) for c in sources
                     if not _numeric(row.get(c))})
    if not intake.rows:
        return None
    rows = _windowed(windows, intake.rows, [k[0] for k in intake.keys])
    frame = pd.DataFrame(rows)
    try:
        schema.features_matrix(frame)
        schema.label_vector(frame)
        return frame
    except HedgeError:
        problems = {i: _problem(schema, row) for i, row in enumerate(rows)}
    bad = {i: p for i, p in problems.items() if p is not None}
    _reject(intake, bad)
    kept = [row for i, row in enumerate(rows) if i not in bad]
    return pd.DataFrame(kept) if kept else None


def _reject(intake: StreamIntake, reasons: dict[int, str]) -> None:
    for i in sorted(reasons, reverse=True):  # positions shift as rows leave
        intake.reject(reasons[i], [i])
