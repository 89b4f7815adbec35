"""From an intake's rows to the rows the agent buffers (with their rolling-window features, per
machine) and the frame it scores, after the schema's checks.

A file is taken or refused whole (`SchemaError`). Stream rows are checked as a whole first and,
only if that fails, one by one: the rows that break the schema are refused (each with its
reason) and the others go on, so one bad reading does not hold back its neighbours. The
measured values and the label are checked before the windows see them (a refused measured value
never enters a window), the window features alone after (so a row refused for its window
features has entered its neighbours' windows, as in an uninterrupted stream).

`prepare` changes nothing but the windows' state: the agent rejects the refused rows at the
intake only once the others are committed, and puts the windows back
(`RollingWindows.snapshot`/`restore`) when they are not, so rows offered again (the buffer was
full) are judged and windowed exactly as the first time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from hedge.data import RollingWindows, Schema
from hedge.data.windows import finite_number
from hedge.edge.connectors import Intake
from hedge.edge.streams import RowKey, StreamIntake
from hedge.errors import HedgeError

__all__ = ["Prepared", "prepare"]

FILE_STREAM = "files"  # the stream rows from files belong to, for window features


def _problem_of(schema: Schema, rows: list[dict[str, Any]]) -> str | None:
    """Why `rows` together break `schema` (None: they do not)."""
    try:
        _check(schema, pd.DataFrame(rows))
    except HedgeError as exc:
        return str(exc)
    return None


def _windowed(windows: RollingWindows, rows: list[dict[str, Any]],
              streams: list[str]) -> list[dict[str, Any]]:
    """`rows` with their window features, each stream's rows in order."""
    positions: dict[str, list[int]] = {}
    for i, stream in enumerate(streams):
        positions.setdefault(stream, []).append(i)
    out: list[dict[str, Any]] = list(rows)
    for stream, at in positions.items():
        for i, row in zip(at, windows.apply([rows[i] for i in at], stream), strict=True):
            out[i] = row
    return out


@dataclass(frozen=True)
class Prepared:
    """What an intake becomes: the rows to buffer (with their window features) and their
    frame, `keys[i]` the key of `rows[i]` (stream rows; None for a file), and the rows
    refused, by position in the intake, with their reasons."""

    rows: list[dict[str, Any]]
    frame: pd.DataFrame
    keys: list[RowKey] | None = None
    refused: dict[int, str] = field(default_factory=dict)


def prepare(schema: Schema, windows: RollingWindows, intake: Intake) -> Prepared:
    """The checked rows of `intake` with their window features; the intake is left as it is."""
    if not isinstance(intake, StreamIntake):
        rows = _windowed(windows, intake.rows, [FILE_STREAM] * len(intake.rows))
        frame = pd.DataFrame(rows)
        _check(schema, frame)
        return Prepared(rows, frame)
    rows, keys = intake.rows, intake.keys
    if not rows:  # every row was redelivered, and dropped as such
        return Prepared([], pd.DataFrame(), [])
    # the measured values first, so that a refused row never enters a window
    refused, frame = _breaking(schema.measured(), rows)
    refused |= {i: f"window source {c!r} is {row.get(c)!r}, not a finite number"
                for i, row in enumerate(rows) for c in [w.source for w in schema.windows]
                if i not in refused and not finite_number(row.get(c))}
    kept = [i for i in range(len(rows)) if i not in refused]
    rows = [rows[i] for i in kept]
    if refused:
        frame = pd.DataFrame(rows)
    if schema.windows and rows:
        rows = _windowed(windows, rows, [keys[i][0] for i in kept])
        late, frame = _breaking(schema.derived(), rows)  # windows beyond their ranges
        if late:
            refused |= {kept[j]: why for j, why in late.items()}
            kept = [i for j, i in enumerate(kept) if j not in late]
            rows = [row for j, row in enumerate(rows) if j not in late]
            frame = pd.DataFrame(rows)
    return Prepared(rows, frame, [keys[i] for i in kept], refused)


def _check(schema: Schema, frame: pd.DataFrame) -> None:
    schema.features_matrix(frame)
    if schema.label is not None:  # the window features' schema has none
        schema.label_vector(frame)


def _breaking(schema: Schema, rows: list[dict[str, Any]]) -> tuple[dict[int, str],
                                                                    pd.DataFrame]:
    """The rows that break `schema`, with the reason, and the frame of all `rows`. Checked as
    a whole first (fast when all are well); then the rows that break it alone, and if the
    others still break it together (a binary label with a third value), all of those too:
    the rows that go on always pass the schema."""
    frame = pd.DataFrame(rows)
    if _problem_of(schema, rows) is None:
        return {}, frame
    found = _alone(schema, rows, 0)
    rest = [i for i in range(len(rows)) if i not in found]
    together = _problem_of(schema, [rows[i] for i in rest]) if rest else None
    if together is not None:
        found |= dict.fromkeys(rest, together)
    return found, frame


def _alone(schema: Schema, rows: list[dict[str, Any]], offset: int) -> dict[int, str]:
    """The rows (numbered from `offset`) that break `schema` on their own, found by halving:
    a part is looked into only if it breaks the schema as a whole, which every part holding
    such a row does (one bad reading among 10,000 rows: about 28 checks instead of 10,000)."""
    if len(rows) <= 1:
        problem = _problem_of(schema, rows) if rows else None
        return {} if problem is None else {offset: problem}
    half = len(rows) // 2
    found: dict[int, str] = {}
    for start, part in ((0, rows[:half]), (half, rows[half:])):
        if _problem_of(schema, part) is not None:
            found |= _alone(schema, part, offset + start)
    return found
