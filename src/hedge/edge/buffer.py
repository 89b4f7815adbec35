"""The edge's durable buffer: every ingested row is committed to SQLite (synchronous=FULL, so
fsynced) before its source is acknowledged, and stays until its batch is uploaded.

Batches: `start_batch` assigns the oldest pending rows to a new batch with a fixed idempotency
key (site, a random id of this buffer, batch number), in the same transaction, before anything
is encrypted. A new batch is started only once it is worth its ciphertexts (whose size does not
depend on how few rows they hold): when `max_rows` rows are pending, when the oldest pending
row has waited `max_wait` seconds, or when the buffer refused rows for want of room. Every row
is stamped with its arrival time (the buffer's clock, wall time by default, injectable) when it
is committed, so the wait survives restarts. Sources (files) are recorded with their rows, so
a source read again after a crash is not added twice. After a crash the same rows are
encrypted again and sent under the same key, so the cloud counts them once. Rows leave the
buffer only when their batch is acknowledged (`finish_batch`).

Rows from machine streams carry a key (machine, source timestamp in microseconds) instead of a
source name: the buffer keeps the newest committed timestamp per machine (a high-water mark,
updated in the same transaction as the rows), and `fresh` tells which keys are newer, so a
redelivered message (MQTT) or a value sent again after a reconnect (OPC UA) is not added twice.

Bounded by bytes: when the stored payloads would exceed `max_bytes`, `add` refuses the rows
(`BufferFullError`) and the connector leaves them at their source (backpressure): nothing is
dropped, ingestion waits for uploads to free space.
"""

from __future__ import annotations

import functools
import json
import os
import secrets
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar, cast

from hedge.errors import BufferFullError, TooLargeForBufferError
from hedge.files import private_file

__all__ = ["Batch", "Buffer", "BufferFullError", "TooLargeForBufferError"]


_Method = TypeVar("_Method", bound=Callable[..., Any])


def _locked(method: _Method) -> _Method:
    """One thread at a time on the shared connection (the agent ingests and uploads in two)."""
    @functools.wraps(method)
    def run(self: Buffer, *args: Any, **kwargs: Any) -> Any:
        with self._lock:
            return method(self, *args, **kwargs)
    return cast(_Method, run)


@dataclass(frozen=True)
class Batch:
    id: int
    key: str
    rows: list[dict[str, Any]]


class Buffer:
    """`clock`: seconds since 1970 (`time.time`), stamped on every row as it is committed."""

    def __init__(self, path: str | os.PathLike[str], max_bytes: int, site: str, *,
                 clock: Callable[[], float] = time.time) -> None:
        self.max_bytes, self.site, self._clock = max_bytes, site, clock
        self._full = False  # rows refused for want of room since the last finished batch
        # the site's rows in clear: the file (and so SQLite's -wal and -shm) for its user only
        private_file(path)
        # one connection shared by the agent's ingest and upload threads, one at a time
        self._db = sqlite3.connect(os.fspath(path), isolation_level=None,
                                   check_same_thread=False)
        self._lock = threading.RLock()  # reentrant: locked methods call each other
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript("""
            CREATE TABLE IF NOT EXISTS row (id INTEGER PRIMARY KEY, payload TEXT NOT NULL,
                                            bytes INTEGER NOT NULL, batch INTEGER,
                                            arrived REAL NOT NULL DEFAULT 0);
            CREATE TABLE IF NOT EXISTS batch (id INTEGER PRIMARY KEY, key TEXT UNIQUE NOT NULL,
                                              uploaded INTEGER NOT NULL DEFAULT 0);
            CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
            CREATE TABLE IF NOT EXISTS source (name TEXT PRIMARY KEY);
            CREATE INDEX IF NOT EXISTS row_batch ON row (batch);
        """)
        self._migrate()
        if self.get("id") is None:  # batch keys stay unique even if this file is recreated
            self.set("id", secrets.token_hex(4))
        self.id = str(self.get("id"))
        self._marks = {str(name)[len("mark:"):]: int(value) for name, value in self._db.execute(
            "SELECT name, value FROM meta WHERE name LIKE 'mark:%'")}
        #: bytes held, kept beside the table (summing it on every add grows with the buffer)
        self._held = int(self._db.execute("SELECT COALESCE(SUM(bytes), 0) FROM row").fetchone()[0])

    def _migrate(self) -> None:
        """Bring a buffer written by an earlier hedge up to date, keeping every row: rows
        without an arrival time get 0 (long ago), so they are due at once, as they were
        under the code that buffered them."""
        columns = {str(c[1]) for c in self._db.execute("PRAGMA table_info(row)")}
        if "arrived" not in columns:
            self._db.execute("ALTER TABLE row ADD COLUMN arrived REAL NOT NULL DEFAULT 0")

    @_locked
    def close(self) -> None:
        self._db.close()

    @property
    def bytes(self) -> int:
        return self._held

    @_locked
    def pending(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM row WHERE batch IS NULL").fetchone()[0])

    @_locked
    def seen(self, source: str) -> bool:
        """Whether the rows of `source` were committed before (a crash after the commit and
        before the source was acknowledged must not add them twice)."""
        return self._db.execute("SELECT 1 FROM source WHERE name = ?",
                                (source,)).fetchone() is not None

    @_locked
    def fresh(self, keys: Sequence[tuple[str, int]]) -> list[bool]:
        """For stream rows in arrival order: which keys are newer than everything committed
        (and than the keys before them) for their machine."""
        return self._advance(keys)[1]

    def _advance(self, keys: Iterable[tuple[str, int]]) -> tuple[dict[str, int], list[bool]]:
        """The high-water marks after `keys`, and which keys moved them (were fresh)."""
        marks, fresh = dict(self._marks), []
        for stream, position in keys:
            new = position > marks.get(stream, -1)
            if new:
                marks[stream] = position
            fresh.append(new)
        return marks, fresh

    @_locked
    def add(self, rows: Sequence[dict[str, Any]], source: str | None = None,
            counts: dict[str, str] | None = None,
            keys: Sequence[tuple[str, int]] | None = None) -> None:
        """Store rows durably (all or none), with the identity of their source (a file) or
        the keys of stream rows (which must be `fresh`), and updated meta values (`counts`),
        in the same transaction."""
        payloads = [json.dumps(r, sort_keys=True, allow_nan=False) for r in rows]
        size = sum(len(p) for p in payloads)
        if size > self.max_bytes:
            raise TooLargeForBufferError(f"{len(rows)} rows take {size:,} bytes, more than the "
                                         f"whole buffer ({self.max_bytes:,})")
        if self._held + size > self.max_bytes:
            self._full = True  # the pending rows are due: waiting would not make room
            raise BufferFullError(f"the buffer holds {self._held:,} of {self.max_bytes:,} "
                                  f"bytes; {len(rows)} new rows wait at their source")
        marks = self._advance(keys or ())[0]
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            arrived = self._clock()
            self._db.executemany("INSERT INTO row (payload, bytes, arrived) VALUES (?, ?, ?)",
                                 [(p, len(p), arrived) for p in payloads])
            if source is not None:
                self._db.execute("INSERT INTO source VALUES (?)", (source,))
            for name, value in (counts or {}).items():
                self._put(name, value)
            for stream, position in marks.items():
                if position != self._marks.get(stream):
                    self._put(f"mark:{stream}", str(position))
        self._marks = marks
        self._held += size

    @_locked
    def open_batch(self) -> Batch | None:
        """The batch started but not acknowledged before (a crash or an outage), if any."""
        found = self._db.execute("SELECT id, key FROM batch WHERE uploaded = 0 ORDER BY id "
                                 "LIMIT 1").fetchone()
        return None if found is None else self._batch(int(found[0]), str(found[1]))

    @_locked
    def start_batch(self, max_rows: int, max_wait: float = 0.0) -> Batch | None:
        """The open batch if there is one (resumed at once, whatever its size); otherwise a
        new batch of the oldest pending rows, up to `max_rows`, if one is due: `max_rows`
        rows are pending, or the oldest pending row arrived `max_wait` seconds ago or more
        (0: whatever is pending is due; a row stamped later than the clock now reads, which
        was set back, is due too, so that no row waits for the clock to catch up), or rows
        were refused for want of room since the last batch was finished. None: nothing is
        pending, or nothing is due yet."""
        current = self.open_batch()
        if current is not None:
            return current
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            pending = self._db.execute("SELECT id, arrived FROM row WHERE batch IS NULL "
                                       "ORDER BY id LIMIT ?", (max_rows,)).fetchall()
            if not pending or not self._due(len(pending) >= max_rows, pending[0][1], max_wait):
                return None
            ids = [r[0] for r in pending]
            cur = self._db.execute("INSERT INTO batch (key) VALUES ('')")
            batch_id = int(cur.lastrowid or 0)
            key = f"{self.site}-{self.id}-{batch_id:08d}"
            self._db.execute("UPDATE batch SET key = ? WHERE id = ?", (key, batch_id))
            self._db.executemany("UPDATE row SET batch = ? WHERE id = ?",
                                 [(batch_id, i) for i in ids])
        return self._batch(batch_id, key)

    def _due(self, enough: bool, oldest: float, max_wait: float) -> bool:
        """Whether pending rows make a batch now (`start_batch`): `enough` of them, or the
        `oldest` arrival long enough ago, or the buffer full."""
        waited = self._clock() - oldest
        return enough or self._full or waited >= max_wait or waited < 0

    def _batch(self, batch_id: int, key: str) -> Batch:
        rows = [json.loads(p) for (p,) in self._db.execute(
            "SELECT payload FROM row WHERE batch = ? ORDER BY id", (batch_id,))]
        return Batch(batch_id, key, rows)

    @_locked
    def finish_batch(self, batch: Batch) -> None:
        """The cloud acknowledged the batch: its rows leave the buffer."""
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            (size,) = self._db.execute("SELECT COALESCE(SUM(bytes), 0) FROM row WHERE batch = ?",
                                       (batch.id,)).fetchone()
            self._db.execute("UPDATE batch SET uploaded = 1 WHERE id = ?", (batch.id,))
            self._db.execute("DELETE FROM row WHERE batch = ?", (batch.id,))
        self._held -= int(size)
        self._full = False  # room again: ingestion may go on

    @_locked
    def quarantine_batch(self, batch: Batch, reason: str) -> None:
        """The cloud refused the batch for good (not an outage): it is set aside with the
        reason, its rows kept (and counted against the buffer) for an operator, and later
        batches go on."""
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.execute("UPDATE batch SET uploaded = -1 WHERE id = ?", (batch.id,))
            self._put(f"refused:{batch.key}", reason)

    @_locked
    def quarantined(self) -> dict[str, str]:
        """Batches the cloud refused: key -> reason."""
        return {str(name)[len("refused:"):]: str(value) for name, value in self._db.execute(
            "SELECT name, value FROM meta WHERE name LIKE 'refused:%' ORDER BY name")}

    @_locked
    def get(self, name: str) -> str | None:
        found = self._db.execute("SELECT value FROM meta WHERE name = ?", (name,)).fetchone()
        return None if found is None else str(found[0])

    @_locked
    def set(self, name: str, value: str) -> None:
        with self._db:
            self._put(name, value)

    def _put(self, name: str, value: str) -> None:
        """Set a meta value inside the caller's transaction."""
        self._db.execute("INSERT INTO meta VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET "
                         "value = excluded.value", (name, value))
