"""What one cycle of the edge agent did (`EdgeAgent.step`, `EdgeAgent.ingest`)."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["StepReport"]


@dataclass
class StepReport:
    ingested: int = 0
    rejected: int = 0
    uploaded_rows: int = 0
    uploaded_bytes: int = 0
    installed: int | None = None
    refused: str | None = None  # why the newest deployment was refused (once per sequence)
    problem: str | None = None  # the last refusal (a HedgeError) of a part: why
    #: unexpected exceptions, one per part that raised one ("upload: TYPE: MESSAGE"; the
    #: log has the traceback); the other parts ran all the same
    failures: list[str] = field(default_factory=list)
    alerts: int = 0
    buffer_full: bool = False  # ingestion stopped: the rows wait at their source
    waiting: int = 0  # rows pending after the cycle, outside any batch (for a fuller one)
    #: co-decryption requests this site answered as key holder: {id: "answered",
    #: "refused: why" or "awaiting approval"}
    codecryptions: dict[str, str] = field(default_factory=dict)
