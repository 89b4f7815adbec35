"""File writes that never leave a half-written file behind (used by every layer)."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from hedge.errors import SchemaError

__all__ = ["append_jsonl", "fsync_dir", "read_json", "write_atomic", "write_json"]


def fsync_dir(directory: str | os.PathLike[str]) -> None:
    """Make a rename or a new file in `directory` durable (the directory entry itself)."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: str | os.PathLike[str], data: bytes) -> None:
    """Write `data` to `path` through a temporary file, fsync, rename, fsync the directory:
    readers see the old file or the new one, never a partial write, even after a crash. The
    file is readable and writable by its owner only (mode 0600, from `mkstemp`): keys, tokens
    and enrolment files need nothing more."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
        fsync_dir(target.parent)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise



def write_json(path: str | os.PathLike[str], body: dict[str, Any]) -> None:
    """Write a JSON object atomically, indented for people to read."""
    write_atomic(path, (json.dumps(body, indent=2) + "\n").encode())


def append_jsonl(path: str | os.PathLike[str], records: Iterable[dict[str, Any]], *,
                 durable: bool = False) -> None:
    """Append one JSON object per line to `path` (created with its folder); `durable`: fsync
    before returning. Values JSON cannot hold are written as their text."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    with target.open("a") as out:
        for record in records:
            out.write(json.dumps(record, default=str) + "\n")
        if durable:
            out.flush()
            os.fsync(out.fileno())


def read_json(path: str | os.PathLike[str], what: str) -> dict[str, Any]:
    """A JSON object from a file, or `SchemaError` naming `what` the file should have been."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SchemaError(f"{path} does not exist") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise SchemaError(f"{path} is not valid JSON ({what} expected): {exc}") from exc
    if not isinstance(data, dict):
        raise SchemaError(f"{path} does not hold a {what}")
    return data
