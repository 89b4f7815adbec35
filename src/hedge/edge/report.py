"""What one cycle of the edge agent did (`EdgeAgent.step`, `EdgeAgent.ingest`)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["StepReport"]


@dataclass
class StepReport:
    ingested: int = 0
    rejected: int = 0
    uploaded_rows: int = 0
    uploaded_bytes: int = 0
    installed: int | None = None
    refused: str | None = None
    problem: str | None = None
    alerts: int = 0
    buffer_full: bool = False  # ingestion stopped: the rows wait at their source
    waiting: int = 0  # rows pending after the cycle, outside any batch (for a fuller one)
