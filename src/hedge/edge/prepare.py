"""From an intake's rows to the rows the agent buffers (with their rolling-window features, per
machine) and the frame it scores, after the schema's checks.

A file is taken or refused whole (`SchemaError`). Stream rows are checked as a whole first and,
only if that fails, one by one: the rows that break the schema are rejected (to the rejected
log, each with its reason) and the others go on, so one bad reading does not hold back its
neighbours. The measured values are checked before the windows see them (a rejected measured
value never enters a window), the window features after. The windows' state moves on here; the
agent puts it back (`RollingWindows.snapshot`/`restore`) when the rows are not committed.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pandas as pd

from hedge.data import RollingWindows, Schema
from hedge.data.windows import derived_columns, finite_number
from hedge.edge.connectors import Intake
from hedge.edge.streams import StreamIntake
from hedge.errors import HedgeError

__all__ = ["prepare"]

FILE_STREAM = "files"  # the stream rows from files belong to, for window features


def _problem(schema: Schema, row: dict[str, Any]) -> str | None:
    try:
        _check(schema, pd.DataFrame([row]))
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


Prepared = tuple[list[dict[str, Any]], pd.DataFrame]


def prepare(schema: Schema, windows: RollingWindows, intake: Intake) -> Prepared | None:
    """The checked rows of `intake` with their window features, and their frame (None: every
    row was rejected); the rows are in the order of what remains in a stream intake."""
    if not isinstance(intake, StreamIntake):
        rows = _windowed(windows, intake.rows, [FILE_STREAM] * len(intake.rows))
        frame = pd.DataFrame(rows)
        _check(schema, frame)
        return rows, frame
    # the measured values first, so that a rejected row never enters a window
    bad = _breaking(_measured(schema), intake.rows)
    bad |= {i: f"window source {c!r} is {row.get(c)!r}, not a finite number"
            for i, row in enumerate(intake.rows) for c in [w.source for w in schema.windows]
            if i not in bad and not finite_number(row.get(c))}
    intake.reject_rows(bad)
    if not intake.rows:
        return None
    if not schema.windows:
        return intake.rows, pd.DataFrame(intake.rows)
    rows = _windowed(windows, intake.rows, [k[0] for k in intake.keys])
    bad = _breaking(schema, rows)  # window values beyond their declared ranges
    intake.reject_rows(bad)
    kept = [row for i, row in enumerate(rows) if i not in bad]
    return (kept, pd.DataFrame(kept)) if kept else None


def _check(schema: Schema, frame: pd.DataFrame) -> None:
    schema.features_matrix(frame)
    schema.label_vector(frame)


def _measured(schema: Schema) -> Schema:
    """The schema of what the machines measure: without the window features."""
    if not schema.windows:
        return schema
    derived = set(derived_columns(schema.windows))
    return replace(schema, features=tuple(f for f in schema.features if f.name not in derived),
                   windows=())


def _breaking(schema: Schema, rows: list[dict[str, Any]]) -> dict[int, str]:
    """The rows that break `schema`, with the reason (checked as a whole first: fast when all
    are well)."""
    try:
        _check(schema, pd.DataFrame(rows))
        return {}
    except HedgeError:
        problems = {i: _problem(schema, row) for i, row in enumerate(rows)}
    return {i: p for i, p in problems.items() if p is not None}
