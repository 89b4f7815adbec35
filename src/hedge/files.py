"""File writes that never leave a half-written file behind (used by every layer)."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from hedge.errors import SchemaError

__all__ = ["append_jsonl", "fsync_dir", "private_dir", "private_file", "read_json",
           "write_atomic", "write_json"]


def fsync_dir(directory: str | os.PathLike[str]) -> None:
    """Make a rename or a new file in `directory` durable (the directory entry itself)."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def private_dir(path: str | os.PathLike[str]) -> Path:
    """`path` as a directory only its owner may enter (mode 0700): created with its parents
    if missing (the parents as the umask says), narrowed if it exists with wider rights.
    For the directories a party keeps its data in: ciphertexts, databases, logs, keys."""
    target = Path(path)
    target.mkdir(mode=0o700, parents=True, exist_ok=True)
    if target.stat().st_mode & 0o077:
        target.chmod(0o700)
    return target


def private_file(path: str | os.PathLike[str]) -> Path:
    """`path` as a file only its owner may read and write (mode 0600): created empty if
    missing, narrowed if it exists with wider rights (a database or log file that another
    program opens after this)."""
    target = Path(path)
    os.close(os.open(target, os.O_WRONLY | os.O_CREAT, 0o600))
    if target.stat().st_mode & 0o077:
        target.chmod(0o600)
    return target


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
    """A JSON object from a file, or `SchemaError` naming the file and `what` it should have
    been: for a file that is missing or unreadable, not UTF-8, not JSON (numbers too long
    to convert included), nested too deeply for the parser, or whose top level is not an
    object. No other exception escapes for the file's contents."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SchemaError(f"{path} does not exist") from None
    except OSError as exc:
        raise SchemaError(f"{path} cannot be read ({what} expected): {exc.strerror}; give "
                          "the path of a readable file") from exc
    except RecursionError:
        raise SchemaError(f"{path} is nested too deeply to be a {what}; give the file "
                          "written for it") from None
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError, over-long integers
        raise SchemaError(f"{path} is not valid JSON ({what} expected): {exc}") from exc
    if not isinstance(data, dict):
        raise SchemaError(f"{path} does not hold a {what}: its top level is not a JSON "
                          "object")
    return data
