"""The edge's durable buffer: every ingested row is committed to SQLite (synchronous=FULL, so
fsynced) before its source is acknowledged, and stays until its batch is uploaded.

Batches: `start_batch` assigns the oldest pending rows to a new batch with a fixed idempotency
key (site, a random id of this buffer, batch number), in the same transaction, before anything
is encrypted. Sources (files) are recorded with their rows, so a source read again after a crash
is not added twice. After a crash the same rows are
encrypted again and sent under the same key, so the cloud counts them once. Rows leave the
buffer only when their batch is acknowledged (`finish_batch`).

Bounded by bytes: when the stored payloads would exceed `max_bytes`, `add` refuses the rows
(`BufferFullError`) and the connector leaves them at their source (backpressure): nothing is
dropped, ingestion waits for uploads to free space.
"""

from __future__ import annotations

import json
import os
import secrets
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from hedge.errors import PolicyError

__all__ = ["Batch", "Buffer", "BufferFullError", "TooLargeForBufferError"]


class BufferFullError(PolicyError):
    """The buffer is at its byte limit; the rows stay at their source until uploads free it."""


class TooLargeForBufferError(BufferFullError):
    """The rows are larger than the whole buffer: they would never fit; split them."""


@dataclass(frozen=True)
class Batch:
    id: int
    key: str
    rows: list[dict[str, Any]]


class Buffer:
    def __init__(self, path: str | os.PathLike[str], max_bytes: int, site: str) -> None:
        self.max_bytes, self.site = max_bytes, site
        self._db = sqlite3.connect(os.fspath(path), isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript("""
            CREATE TABLE IF NOT EXISTS row (id INTEGER PRIMARY KEY, payload TEXT NOT NULL,
                                            bytes INTEGER NOT NULL, batch INTEGER);
            CREATE TABLE IF NOT EXISTS batch (id INTEGER PRIMARY KEY, key TEXT UNIQUE NOT NULL,
                                              uploaded INTEGER NOT NULL DEFAULT 0);
            CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
            CREATE TABLE IF NOT EXISTS source (name TEXT PRIMARY KEY);
        """)
        if self.get("id") is None:  # batch keys stay unique even if this file is recreated
            self.set("id", secrets.token_hex(4))
        self.id = str(self.get("id"))

    def close(self) -> None:
        self._db.close()

    @property
    def bytes(self) -> int:
        return int(self._db.execute("SELECT COALESCE(SUM(bytes), 0) FROM row").fetchone()[0])

    def pending(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM row WHERE batch IS NULL").fetchone()[0])

    def seen(self, source: str) -> bool:
        """Whether the rows of `source` were committed before (a crash after the commit and
        before the source was acknowledged must not add them twice)."""
        return self._db.execute("SELECT 1 FROM source WHERE name = ?",
                                (source,)).fetchone() is not None

    def add(self, rows: Sequence[dict[str, Any]], source: str | None = None,
            counts: dict[str, str] | None = None) -> None:
        """Store rows durably (all or none), with the identity of their source and updated
        meta values (`counts`) in the same transaction."""
        payloads = [json.dumps(r, sort_keys=True, allow_nan=False) for r in rows]
        size = sum(len(p) for p in payloads)
        if size > self.max_bytes:
            raise TooLargeForBufferError(f"{len(rows)} rows take {size:,} bytes, more than the "
                                         f"whole buffer ({self.max_bytes:,})")
        held = self.bytes
        if held + size > self.max_bytes:
            raise BufferFullError(f"the buffer holds {held:,} of {self.max_bytes:,} bytes;"
                                  f" {len(rows)} new rows wait at their source")
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.executemany("INSERT INTO row (payload, bytes) VALUES (?, ?)",
                                 [(p, len(p)) for p in payloads])
            if source is not None:
                self._db.execute("INSERT INTO source VALUES (?)", (source,))
            for name, value in (counts or {}).items():
                self._put(name, value)

    def open_batch(self) -> Batch | None:
        """The batch started but not acknowledged before (a crash or an outage), if any."""
        found = self._db.execute("SELECT id, key FROM batch WHERE uploaded = 0 ORDER BY id "
                                 "LIMIT 1").fetchone()
        return None if found is None else self._batch(int(found[0]), str(found[1]))

    def start_batch(self, max_rows: int) -> Batch | None:
        """The open batch, or a new one of up to `max_rows` pending rows; None if empty."""
        current = self.open_batch()
        if current is not None:
            return current
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            ids = [r[0] for r in self._db.execute(
                "SELECT id FROM row WHERE batch IS NULL ORDER BY id LIMIT ?", (max_rows,))]
            if not ids:
                return None
            cur = self._db.execute("INSERT INTO batch (key) VALUES ('')")
            batch_id = int(cur.lastrowid or 0)
            key = f"{self.site}-{self.id}-{batch_id:08d}"
            self._db.execute("UPDATE batch SET key = ? WHERE id = ?", (key, batch_id))
            self._db.executemany("UPDATE row SET batch = ? WHERE id = ?",
                                 [(batch_id, i) for i in ids])
        return self._batch(batch_id, key)

    def _batch(self, batch_id: int, key: str) -> Batch:
        rows = [json.loads(p) for (p,) in self._db.execute(
            "SELECT payload FROM row WHERE batch = ? ORDER BY id", (batch_id,))]
        return Batch(batch_id, key, rows)

    def finish_batch(self, batch: Batch) -> None:
        """The cloud acknowledged the batch: its rows leave the buffer."""
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.execute("UPDATE batch SET uploaded = 1 WHERE id = ?", (batch.id,))
            self._db.execute("DELETE FROM row WHERE batch = ?", (batch.id,))

    def quarantine_batch(self, batch: Batch, reason: str) -> None:
        """The cloud refused the batch for good (not an outage): it is set aside with the
        reason, its rows kept (and counted against the buffer) for an operator, and later
        batches go on."""
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.execute("UPDATE batch SET uploaded = -1 WHERE id = ?", (batch.id,))
            self._put(f"refused:{batch.key}", reason)

    def quarantined(self) -> dict[str, str]:
        """Batches the cloud refused: key -> reason."""
        return {str(name)[len("refused:"):]: str(value) for name, value in self._db.execute(
            "SELECT name, value FROM meta WHERE name LIKE 'refused:%' ORDER BY name")}

    def get(self, name: str) -> str | None:
        found = self._db.execute("SELECT value FROM meta WHERE name = ?", (name,)).fetchone()
        return None if found is None else str(found[0])

    def set(self, name: str, value: str) -> None:
        with self._db:
            self._put(name, value)

    def _put(self, name: str, value: str) -> None:
        """Set a meta value inside the caller's transaction."""
        self._db.execute("INSERT INTO meta VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET "
                         "value = excluded.value", (name, value))
