"""Where the edge's predictions and alerts go. A sink takes the scored rows of one intake at
a time; `JsonlSink` appends them to a JSON Lines file (fsynced). Industrial sinks (an MQTT
topic, an OPC UA node of the machine) implement the same interface."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Protocol

from hedge.files import append_jsonl

__all__ = ["JsonlSink", "Prediction", "Sink"]


@dataclass(frozen=True)
class Prediction:
    site: str
    source: str  # the intake the row came with
    row: int  # its position there
    model_version: int | None
    probability: float
    alert: bool  # the stream's alert state after this row (threshold and hysteresis)
    stream: str | None = None  # the machine, for rows from machine streams
    time: int | None = None  # the row's source timestamp (microseconds since 1970)


class Sink(Protocol):
    def write(self, predictions: Sequence[Prediction]) -> None: ...


class JsonlSink:
    """Appends one JSON object per prediction to `path` and fsyncs."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    def write(self, predictions: Sequence[Prediction]) -> None:
        if predictions:
            append_jsonl(self.path, (asdict(p) for p in predictions), durable=True)
