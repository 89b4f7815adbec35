"""Rows from machine streams (OPC UA, MQTT), held until the edge's buffer committed them.

A stream connector puts each assembled row into a `StreamQueue` with its key: the machine
(stream) and the row's source timestamp in microseconds (position), which grows strictly per
machine. The agent takes what is queued as one `StreamIntake`; rows leave the queue only when
the intake is acknowledged (after the buffer's commit) or rejected (written to the rejected
log with the reason). An intake not acknowledged (the buffer is full) is offered again.
Acknowledging also releases the protocol's own acknowledgements (MQTT PUBACKs): a message is
acknowledged to the broker only once its row is durable.

Malformed input (a payload that is not a row) never reaches the agent: it is counted, logged
and written to the rejected log (`DATA_DIR/rejected.jsonl`), so nothing is silently lost.
Memory is bounded: beyond `limit` waiting rows, the oldest are dropped and counted (only
when the buffer stays full for long, as OPC UA cannot hold values back at the machine).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import islice
from pathlib import Path
from typing import Any

from hedge.files import append_jsonl

__all__ = [
    "RowKey",
    "StreamConnector",
    "StreamIntake",
    "StreamQueue",
    "StreamStats",
    "from_micros",
    "micros",
    "milestone",
]

log = logging.getLogger("hedge.edge")

RowKey = tuple[str, int]  # (machine, source timestamp in microseconds)
Acknowledger = Callable[[list[Any]], None]
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def milestone(count: int) -> bool:
    """Whether the `count`-th of a repeated event earns a log line: the 1st, 10th, 100th and
    every 1000th (a connector that retries for ever, a queue that keeps dropping)."""
    return count in (1, 10, 100) or count % 1000 == 0


def micros(stamp: datetime) -> int:
    """A timestamp (naive: UTC) as microseconds since 1970 (a row's position)."""
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=UTC)
    return (stamp - _EPOCH) // timedelta(microseconds=1)


def from_micros(position: int) -> datetime:
    """The timestamp (UTC) of a row's position."""
    return _EPOCH + timedelta(microseconds=position)


@dataclass
class StreamStats:
    received: int = 0  # rows queued
    acknowledged: int = 0  # rows committed to the buffer (or dropped there as duplicates)
    rejected: int = 0  # rows the agent refused (schema), in the rejected log
    malformed: int = 0  # payloads that were not rows, in the rejected log
    dropped: int = 0  # rows dropped because the queue was at its limit
    reconnects: int = 0  # connections re-established
    connect_failures: int = 0  # connection attempts that failed


@dataclass
class _Entry:
    key: RowKey
    row: dict[str, Any]
    token: Any  # what the protocol needs to acknowledge it (None: nothing)


class StreamQueue:
    def __init__(self, name: str, rejected_log: Path, *, limit: int = 100_000,
                 acknowledge: Acknowledger | None = None) -> None:
        self.name, self.rejected_log, self.limit = name, rejected_log, limit
        self.stats = StreamStats()
        self._acknowledge = acknowledge
        self._entries: deque[_Entry] = deque()
        self._lock = threading.Lock()
        self._arrived = threading.Event()

    def put(self, key: RowKey, row: dict[str, Any], token: Any = None) -> None:
        with self._lock:
            self._entries.append(_Entry(key, row, token))
            self.stats.received += 1
            if len(self._entries) > self.limit:
                lost = self._entries.popleft()
                self.stats.dropped += 1
                if milestone(self.stats.dropped):
                    log.error("%s: %d rows wait for the buffer; dropped the oldest (%s), %d "
                              "dropped so far", self.name, self.limit, lost.key,
                              self.stats.dropped)
        self._arrived.set()

    def malformed(self, payload: bytes, reason: str, origin: str, token: Any = None) -> None:
        """A payload that is not a row: counted, logged, kept in the rejected log, and
        acknowledged (a broker would otherwise redeliver it for ever)."""
        self.stats.malformed += 1
        log.warning("%s: malformed payload from %s: %s", self.name, origin, reason)
        self._log_rejected([{"origin": origin, "reason": reason,
                             "payload": payload.decode("utf-8", "replace")}])
        if token is not None and self._acknowledge is not None:
            self._acknowledge([token])

    def wait(self, timeout: float) -> bool:
        """Wait until rows arrive (or `timeout` seconds); whether any are queued. The signal
        is set by `put` and cleared by `_release` when the queue runs empty."""
        self._arrived.wait(timeout)
        with self._lock:
            return bool(self._entries)

    def take(self, max_rows: int = 10_000) -> StreamIntake | None:
        """The oldest waiting rows (still queued until the intake says otherwise)."""
        with self._lock:
            entries = list(islice(self._entries, max_rows))
        return StreamIntake(self, entries) if entries else None

    def pending(self) -> int:
        with self._lock:
            return len(self._entries)

    def _release(self, entries: Sequence[_Entry], *, rejected: bool = False) -> None:
        if not entries:  # the agent drops no redelivered rows on most takes
            return
        gone = {id(e) for e in entries}
        with self._lock:
            left = len(gone)
            while left and self._entries and id(self._entries[0]) in gone:
                self._entries.popleft()  # a take is the oldest rows: usually all from the head
                left -= 1
            if left:
                self._entries = deque(e for e in self._entries if id(e) not in gone)
            if not self._entries:  # the next `wait` waits for a `put`
                self._arrived.clear()
            if rejected:
                self.stats.rejected += len(entries)
            else:
                self.stats.acknowledged += len(entries)
        tokens = [e.token for e in entries if e.token is not None]
        if tokens and self._acknowledge is not None:
            self._acknowledge(tokens)

    def _log_rejected(self, records: list[dict[str, Any]]) -> None:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        append_jsonl(self.rejected_log,
                     ({"time": stamp, "source": self.name, **r} for r in records))


class StreamIntake:
    """Rows of one take: `rows[i]` has key `keys[i]`."""

    def __init__(self, queue: StreamQueue, entries: list[_Entry]) -> None:
        self._queue, self._entries = queue, entries
        first, last = entries[0].key, entries[-1].key
        self.name = f"{queue.name}:{first[0]}@{first[1]}..{last[0]}@{last[1]}"

    @property
    def rows(self) -> list[dict[str, Any]]:
        return [e.row for e in self._entries]

    @property
    def keys(self) -> list[RowKey]:
        return [e.key for e in self._entries]

    def acknowledge(self) -> None:
        self._queue._release(self._entries)

    def drop(self, rows: Sequence[int]) -> None:
        """Rows the buffer holds already (redelivered): acknowledged, and out of this intake."""
        chosen = set(rows)
        self._queue._release([e for i, e in enumerate(self._entries) if i in chosen])
        self._entries = [e for i, e in enumerate(self._entries) if i not in chosen]

    def reject(self, reason: str) -> None:
        """Refuse every row (to the rejected log)."""
        self.reject_rows(dict.fromkeys(range(len(self._entries)), reason))

    def reject_rows(self, reasons: Mapping[int, str]) -> None:
        """Refuse the rows at these positions, each with its reason (to the rejected log, in
        one write); the others stay in this intake."""
        if not reasons:
            return
        refused = [(e, reasons[i]) for i, e in enumerate(self._entries) if i in reasons]
        self._queue._log_rejected([{"origin": f"{e.key[0]}@{e.key[1]}", "reason": why,
                                    "row": e.row} for e, why in refused])
        self._queue._release([e for e, _ in refused], rejected=True)
        self._entries = [e for i, e in enumerate(self._entries) if i not in reasons]


class StreamConnector:
    """What the OPC UA and MQTT connectors share: the agent takes their rows from `queue`."""

    queue: StreamQueue

    def poll(self) -> Iterator[StreamIntake]:
        intake = self.queue.take()
        if intake is not None:
            yield intake

    def wait(self, timeout: float) -> bool:
        return self.queue.wait(timeout)
