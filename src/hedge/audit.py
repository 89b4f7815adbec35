"""Append-only, hash-chained audit log (JSON Lines): of the owner's key service and releases,
and of each key holder's co-decryption decisions.

Every line is the canonical JSON (sorted keys, no spaces, ASCII) of one entry::

    {"details":{...},"event":"refresh","hash":"…","job":"job-1","prev":"…","seq":3,
     "time":"2025-01-01T12:00:00.000000+00:00"}

``hash`` is SHA-256 (hex) over the canonical JSON of the entry without ``hash``; ``prev`` is the
previous entry's hash (``"0" * 64`` for the first); ``seq`` counts from 1 and equals the line
number. Editing a field, deleting, inserting or reordering lines, or a half-written last line
breaks the chain at a line that `verify_log` names. Dropping whole lines from the end leaves a
valid shorter chain: compare the entry count and last hash (`AuditLog.head`) with a copy kept
elsewhere to detect that. Details never hold decrypted values (the key service logs only
lengths, counts and reasons).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import threading
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hedge.errors import CorruptDataError, PolicyError
from hedge.files import fsync_dir

__all__ = ["GENESIS", "AuditEntry", "AuditLog", "canonical_json", "verify_log"]

#: `prev` of the first entry.
GENESIS = "0" * 64
_FIELDS = frozenset({"seq", "time", "event", "job", "details", "prev", "hash"})


def canonical_json(obj: Any) -> bytes:
    """The canonical encoding hashed and written: sorted keys, no whitespace, ASCII, no NaN."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True,
                      allow_nan=False).encode("ascii")


def _digest(body: dict[str, Any]) -> str:
    return hashlib.sha256(canonical_json(body)).hexdigest()


@dataclass(frozen=True)
class AuditEntry:
    """One verified entry of the log."""

    seq: int
    time: str
    event: str
    job: str | None
    details: dict[str, Any]
    prev: str
    hash: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _bad(path: Path, line: int, problem: str) -> CorruptDataError:
    return CorruptDataError(
        f"audit log {path} fails verification at line {line}: {problem}; the file was modified "
        "after it was written (or a write was cut off); keep it unchanged for investigation"
    )


def _parse_line(path: Path, number: int, raw: bytes, prev: str) -> AuditEntry:
    try:
        obj = json.loads(raw.decode("ascii"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise _bad(path, number, f"not a JSON entry ({exc})") from None
    if not isinstance(obj, dict) or set(obj) != _FIELDS:
        raise _bad(path, number, "the entry does not have exactly the audit fields")
    seq, hash_, job = obj["seq"], obj["hash"], obj["job"]
    if type(seq) is not int or seq != number:
        raise _bad(path, number, f"sequence number {seq!r} where {number} belongs "
                                 "(a line was deleted, inserted or moved)")
    if not all(isinstance(obj[k], str) for k in ("time", "event", "prev", "hash")) or not (
            job is None or isinstance(job, str)) or not isinstance(obj["details"], dict):
        raise _bad(path, number, "a field has the wrong type")
    if obj["prev"] != prev:
        raise _bad(path, number, "its link to the previous entry is broken "
                                 "(a line before it was deleted, edited or moved)")
    body = {k: v for k, v in obj.items() if k != "hash"}
    if _digest(body) != hash_:
        raise _bad(path, number, "its hash does not match its content (the entry was edited)")
    if canonical_json(obj) != raw:
        raise _bad(path, number, "the line is not in canonical form")
    return AuditEntry(seq=seq, time=obj["time"], event=obj["event"], job=job,
                      details=obj["details"], prev=obj["prev"], hash=hash_)


def _verify_bytes(path: Path, data: bytes) -> list[AuditEntry]:
    if not data:
        return []
    lines = data.split(b"\n")
    if lines[-1] != b"":
        raise _bad(path, len(lines), "the last line is incomplete (the file was truncated or a "
                                     "write was cut off)")
    entries: list[AuditEntry] = []
    prev = GENESIS
    for number, raw in enumerate(lines[:-1], start=1):
        entry = _parse_line(path, number, raw, prev)
        entries.append(entry)
        prev = entry.hash
    return entries


def verify_log(path: str | os.PathLike[str]) -> list[AuditEntry]:
    """Read and verify a log file (without opening it for writing): the verified entries, or
    `CorruptDataError` naming the first bad line. A missing file raises `FileNotFoundError`."""
    p = Path(path)
    return _verify_bytes(p, p.read_bytes())


class AuditLog:
    """The writer of one audit log. Opening verifies the existing file and continues its chain;
    the file is locked (flock) against a second writer while this object is open.

    Appends are written with one `write` on an O_APPEND descriptor and fsync'ed before `append`
    returns. Thread-safe.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        created = not self.path.exists()
        self._fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            try:
                fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise PolicyError(f"audit log {self.path} is open by another key service; "
                                  "run one service per log") from None
            if created:
                fsync_dir(self.path.parent)
            entries = _verify_bytes(self.path, self.path.read_bytes())
        except BaseException:
            os.close(self._fd)
            raise
        self._count = len(entries)
        self._last = entries[-1].hash if entries else GENESIS
        self._size = os.fstat(self._fd).st_size

    def __repr__(self) -> str:
        return f"AuditLog({str(self.path)!r}, entries={self._count})"

    def __enter__(self) -> AuditLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Release the lock and the file (appending afterwards fails)."""
        with self._lock:
            if self._fd >= 0:
                os.close(self._fd)
                self._fd = -1

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self.close()

    @property
    def head(self) -> tuple[int, str]:
        """(number of entries, hash of the last entry): record it elsewhere as an anchor."""
        with self._lock:
            return self._count, self._last

    def append(self, event: str, job: str | None, details: dict[str, Any]) -> AuditEntry:
        """Add one entry and fsync it. `details` must be JSON data; never put decrypted values
        in it."""
        with self._lock:
            if self._fd < 0:
                raise PolicyError(f"audit log {self.path} is closed; nothing can be recorded")
            if os.fstat(self._fd).st_size != self._size:
                raise _bad(self.path, self._count + 1,
                           "the file changed size behind this key service's back")
            body: dict[str, Any] = {
                "seq": self._count + 1,
                "time": datetime.now(UTC).isoformat(timespec="microseconds"),
                "event": event,
                "job": job,
                "details": details,
                "prev": self._last,
            }
            try:
                entry_hash = _digest(body)
            except (TypeError, ValueError) as exc:
                raise CorruptDataError(f"audit details are not JSON data: {exc}") from exc
            line = canonical_json({**body, "hash": entry_hash}) + b"\n"
            written = os.write(self._fd, line)
            if written != len(line):  # pragma: no cover - a regular file writes fully or raises
                raise OSError(f"short write to the audit log {self.path}")
            os.fsync(self._fd)
            self._size += written
            self._count += 1
            self._last = entry_hash
            return AuditEntry(seq=body["seq"], time=body["time"], event=event, job=job,
                              details=details, prev=body["prev"], hash=entry_hash)

    def entries(self) -> list[AuditEntry]:
        """All entries, read from disk and verified (see `verify`). Holds the writer's lock so
        that an append cannot land between reading the file and comparing with the head."""
        with self._lock:
            entries = verify_log(self.path)
            count, last = self._count, self._last
        if len(entries) < count:
            raise _bad(self.path, len(entries) + 1,
                       f"this service wrote {count} entries but the file holds only "
                       f"{len(entries)} (lines were removed at the end)")
        if count and entries[count - 1].hash != last:
            raise _bad(self.path, count, "the entry this service wrote last was replaced")
        return entries

    def verify(self) -> int:
        """Walk the chain on disk; the number of entries, or `CorruptDataError` naming the
        first bad line. Also detects lines removed from the end since this object wrote them."""
        return len(self.entries())
