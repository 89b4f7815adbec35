"""Where the edge's rows come from. A connector yields rows (dicts of column -> value) and is
told when they are safely buffered; only then does it let go of them.

Connectors: `FolderConnector` (here), `hedge.edge.opcua.OpcUaConnector` and
`hedge.edge.mqtt.MqttConnector` (machine streams).

`FolderConnector` reads CSV or Parquet files dropped into a folder (once unchanged for a
settle time): a file's rows are handed over whole, and the file moves to `done/` only after the
buffer committed them (with the file's name and content hash, so a file read again after a crash
is not counted twice); a file that
cannot be read moves to `rejected/` with a reason file beside it.
"""

from __future__ import annotations

import hashlib
import io
import math
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

import pandas as pd

__all__ = ["Connector", "FolderConnector", "Intake"]


class Intake(Protocol):
    """One unit a connector hands over: its name (for records), its rows, and how to
    acknowledge or refuse it whole (stream intakes can also refuse single rows:
    `StreamIntake.reject_rows`)."""

    name: str

    @property
    def rows(self) -> list[dict[str, Any]]: ...

    def acknowledge(self) -> None: ...

    def reject(self, reason: str) -> None: ...


class Connector(Protocol):
    def start(self) -> None:
        """Connect (streams) before the first `poll`."""

    def poll(self) -> Iterator[Intake]: ...

    def wait(self, timeout: float) -> bool:
        """Block until rows may be there (at most `timeout` seconds)."""

    def close(self) -> None: ...


def _clean(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return None
    return value.item() if hasattr(value, "item") else value


class _FileIntake:
    def __init__(self, path: Path, raw: bytes, rows: list[dict[str, Any]]) -> None:
        self.path, self.rows = path, rows
        digest = hashlib.sha256(raw).hexdigest()[:16]
        self.name = f"{path.name}:{digest}"  # identity: a file of the same name later is new

    def _move(self, folder: str) -> Path:
        target = self.path.parent / folder / self.path.name
        target.parent.mkdir(exist_ok=True)
        os.replace(self.path, target)
        return target

    def acknowledge(self) -> None:
        self._move("done")

    def reject(self, reason: str) -> None:
        target = self._move("rejected")
        target.with_name(target.name + ".reason.txt").write_text(reason + "\n")


class FolderConnector:
    """Files `*.csv` / `*.parquet` in `folder`, oldest first (by name), once unchanged for
    `settle` seconds (a file still being written is left for later; writers that create the
    file elsewhere and rename it in can use settle=0)."""

    def __init__(self, folder: str | os.PathLike[str], settle: float = 2.0) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.settle = settle

    def start(self) -> None:
        """Nothing to connect to."""

    def close(self) -> None:
        """Nothing to close."""

    def wait(self, timeout: float) -> bool:
        """Files are looked for every `timeout` seconds."""
        time.sleep(timeout)
        return True

    def poll(self) -> Iterator[Intake]:
        quiet_since = time.time() - self.settle
        files = sorted(p for p in self.folder.iterdir()
                       if p.is_file() and p.suffix.lower() in (".csv", ".parquet")
                       and p.stat().st_mtime <= quiet_since)
        for path in files:
            raw = path.read_bytes()  # once: the rows and their identity come from these bytes
            try:
                frame = (pd.read_parquet(io.BytesIO(raw)) if path.suffix.lower() == ".parquet"
                         else pd.read_csv(io.BytesIO(raw), encoding="utf-8-sig"))
            except (ValueError, OSError, pd.errors.ParserError, UnicodeDecodeError) as exc:
                _FileIntake(path, raw, []).reject(f"unreadable: {exc}")
                continue
            rows = [{k: _clean(v) for k, v in r.items()} for r in frame.to_dict("records")]
            yield _FileIntake(path, raw, rows)
