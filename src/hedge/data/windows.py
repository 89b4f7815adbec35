"""Rolling-window features: statistics over the last samples of a stream, computed at the edge.

A `Window` names a numeric source column, a size in samples and the statistics to derive; each
statistic becomes one column named `f"{source} {stat}{size}"` (`"Torque [Nm] mean10"`).
`RollingWindows` computes them batch by batch, keeping the last `size - 1` values of every
window per stream (one stream per machine) in memory; `rolling_frame` computes them for a whole
frame at once (offline, e.g. to infer their ranges). Both give the same values however the rows
are split into batches: a row's statistics depend only on the values in its window, and both
compute them with the same code.

At the start of a stream a window is partial: it holds the values seen so far. std is the
population standard deviation (ddof=0), slope the least-squares slope against the sample index
(per sample), rms the root of the mean square; std and slope of a single value are 0.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from numpy.lib.stride_tricks import sliding_window_view

from hedge.errors import SchemaError

__all__ = ["MAX_SIZE", "STATS", "RollingWindows", "Window", "derived_columns", "finite_number",
           "rolling_frame"]

STATS = ("mean", "std", "min", "max", "slope", "rms")
MAX_SIZE = 10_000
_BLOCK = 1 << 20  # values of a (rows, size) block computed at once: bounds the memory used


@dataclass(frozen=True)
class Window:
    """`stats` (distinct names from STATS, at least one) over the last `size` samples (2 to
    MAX_SIZE) of the numeric column `source`. Invalid values raise SchemaError."""

    source: str
    size: int
    stats: tuple[str, ...]

    def __post_init__(self) -> None:
        if not isinstance(self.source, str) or not self.source:
            raise SchemaError(f"a window needs the name of its source column, not {self.source!r}")
        where = f"window of {self.source!r}"
        size = self.size
        if isinstance(size, bool) or not isinstance(size, int) or not 2 <= size <= MAX_SIZE:
            raise SchemaError(f"{where}: size must be a whole number of samples from 2 to "
                              f"{MAX_SIZE}, not {size!r}")
        if isinstance(self.stats, str) or not isinstance(self.stats, Sequence):
            raise SchemaError(f"{where}: stats must be a list of names, e.g. ['mean', 'slope']")
        object.__setattr__(self, "stats", tuple(self.stats))
        unknown = [s for s in self.stats if s not in STATS]
        if not self.stats or unknown or len(set(self.stats)) != len(self.stats):
            raise SchemaError(f"{where}: stats {list(self.stats)} must be distinct names from "
                              f"{list(STATS)}, at least one")

    @property
    def columns(self) -> list[str]:
        """The derived column names, one per statistic, in the order of `stats`."""
        return [f"{self.source} {stat}{self.size}" for stat in self.stats]


def derived_columns(windows: Iterable[Window]) -> list[str]:
    """All derived column names, in order. SchemaError if two windows derive the same column or
    a derived column is itself a window source (windows of windows are not supported)."""
    windows = list(windows)
    columns = [c for w in windows for c in w.columns]
    repeated = sorted({c for c in columns if columns.count(c) > 1})
    if repeated:
        raise SchemaError(f"window column(s) {repeated} are derived twice; name each statistic "
                          "once per source and size")
    chained = sorted(set(columns) & {w.source for w in windows})
    if chained:
        raise SchemaError(f"window column(s) {chained} cannot be window sources themselves; "
                          "windows apply to measured columns only")
    return columns


class RollingWindows:
    """The windows' statistics, batch by batch, for any number of streams.

    State: per stream and window, the last size - 1 values, in memory only (a new instance,
    e.g. after a restart, starts every stream again with partial windows)."""

    def __init__(self, windows: Iterable[Window]) -> None:
        self.windows = tuple(windows)
        self.columns = derived_columns(self.windows)
        self._history: dict[str, list[np.ndarray]] = {}

    def apply(self, rows: Sequence[Mapping[str, Any]], stream: str) -> list[dict[str, Any]]:
        """New dicts: each row plus its derived columns (replacing any of the same name) over the
        row and up to size - 1 rows before it in `stream`, earlier calls included. A missing,
        non-numeric or non-finite source value raises SchemaError and changes no state."""
        history = self._history.get(stream) or [np.empty(0) for _ in self.windows]
        derived, kept = [], []
        for window, past in zip(self.windows, history, strict=True):
            x = _finite([row.get(window.source) for row in rows], window.source, stream)
            derived.append(_stats(window, past, x))
            kept.append(np.concatenate([past, x])[1 - window.size:].copy())
        if rows:
            self._history[stream] = kept
        table = np.column_stack(derived).tolist() if derived else [[] for _ in rows]
        return [{**row, **dict(zip(self.columns, values, strict=True))}
                for row, values in zip(rows, table, strict=True)]

    def snapshot(self) -> dict[str, list[np.ndarray]]:
        """The state now, for `restore` (cheap: `apply` replaces arrays, never changes them)."""
        return dict(self._history)

    def restore(self, state: dict[str, list[np.ndarray]]) -> None:
        """Back to a `snapshot`: rows applied since count as never seen."""
        self._history = dict(state)

    def reset(self, stream: str | None = None) -> None:
        """Forget one stream's values (its windows start partial again), or every stream's."""
        if stream is None:
            self._history.clear()
        else:
            self._history.pop(stream, None)


def rolling_frame(frame: pd.DataFrame, windows: Iterable[Window],
                  stream_column: str | None = None) -> pd.DataFrame:
    """A copy of `frame` with the derived columns added (replacing any of the same name), per
    stream (the values of `stream_column`, else one stream) in row order: the values that
    `RollingWindows.apply` gives however the rows of each stream are split into calls."""
    windows = tuple(windows)
    columns = derived_columns(windows)
    needed = [w.source for w in windows] + ([] if stream_column is None else [stream_column])
    missing = sorted({c for c in needed if c not in frame.columns})
    if missing:
        raise SchemaError(f"the data lacks column(s) {missing} that the windows need; "
                          f"it has {list(frame.columns)}")
    groups: Mapping[Any, np.ndarray] = {None: np.arange(len(frame))}
    if stream_column is not None:
        groups = frame.groupby(stream_column, sort=False, dropna=False).indices
    out = np.empty((len(frame), len(columns)))
    for stream, rows in groups.items():
        at = 0
        for w in windows:
            x = _finite(frame[w.source].to_numpy()[rows], w.source, stream)
            out[rows, at:at + len(w.stats)] = _stats(w, np.empty(0), x)
            at += len(w.stats)
    result = frame.copy()
    for j, column in enumerate(columns):
        result[column] = out[:, j]
    return result


def finite_number(value: Any) -> bool:
    """Whether a window can take `value`: a finite int or float (not a bool)."""
    if not isinstance(value, int | float | np.integer | np.floating) or isinstance(value, bool):
        return False
    try:
        return bool(np.isfinite(float(value)))
    except OverflowError:  # an int beyond float
        return False


def _finite(raw: Sequence[Any] | np.ndarray, source: str, stream: Any) -> np.ndarray:
    """The values as float64; SchemaError naming the column and stream unless all are finite
    numbers (int or float, not bool)."""
    if isinstance(raw, np.ndarray) and raw.dtype.kind in "fiu":
        x = raw.astype(np.float64)
    else:
        x = np.array([float(v) if finite_number(v) else np.nan for v in raw], dtype=np.float64)
    bad = np.flatnonzero(~np.isfinite(x))
    if bad.size:
        where = "" if stream is None else f" in stream {stream!r}"
        value = raw[bad[0]]
        value = value.item() if isinstance(value, np.generic) else value
        raise SchemaError(f"column {source!r}{where} has {value!r}, not a finite number; "
                          "rolling windows need one in every row (clean or impute first)")
    return x


def _stats(window: Window, past: np.ndarray, x: np.ndarray) -> np.ndarray:
    """(len(x), len(stats)) statistics of each value of x over itself and the size - 1 values
    before it (`past`, at most size - 1 values, then x)."""
    size = window.size
    values = np.concatenate([np.zeros(size - 1 - len(past)), past, x])  # zeros: before the start
    counts = np.minimum(size, len(past) + 1 + np.arange(len(x))).astype(np.float64)
    out = np.empty((len(x), len(window.stats)))
    step = max(1, _BLOCK // size)
    for start in range(0, len(x), step):
        block = sliding_window_view(values[start:start + step + size - 1], size)
        out[start:start + step] = _block(block, counts[start:start + step], window.stats)
    return out


def _block(w: np.ndarray, n: np.ndarray, stats: tuple[str, ...]) -> np.ndarray:
    """Statistics of rows of w whose last n[i] values are the window (the others are zeros);
    only those asked for, sharing the mean and the deviations between them."""
    # each row summed alone, wherever its block came from: numpy (2.x, as pinned) reduces a
    # C-contiguous block row by row, pairwise within the row; tests check it bit for bit
    w = np.ascontiguousarray(w)
    first = (w.shape[1] - n)[:, None]
    valid = np.arange(w.shape[1]) >= first
    memo: dict[str, np.ndarray] = {}

    def mean() -> np.ndarray:
        if "mean" not in memo:
            memo["mean"] = w.sum(axis=1) / n
        return memo["mean"]

    def dev() -> np.ndarray:
        if "dev" not in memo:
            memo["dev"] = np.where(valid, w - mean()[:, None], 0.0)
        return memo["dev"]

    def slope() -> np.ndarray:
        index = np.where(valid, np.arange(w.shape[1]) - first - (n[:, None] - 1) / 2, 0.0)
        return np.asarray((index * dev()).sum(axis=1) / np.where(n > 1, n * (n * n - 1) / 12,
                                                                  1.0))

    make: dict[str, Callable[[], np.ndarray]] = {
        "mean": mean,
        "std": lambda: np.sqrt((dev() * dev()).sum(axis=1) / n),
        "min": lambda: np.where(valid, w, np.inf).min(axis=1),
        "max": lambda: np.where(valid, w, -np.inf).max(axis=1),
        "slope": slope,
        "rms": lambda: np.sqrt((w * w).sum(axis=1) / n),
    }
    return np.column_stack([make[s]() for s in stats])
