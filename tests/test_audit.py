"""The hash-chained audit log: format, fsync, continuation, tamper detection."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from hedge.errors import CorruptDataError, PolicyError
from hedge.owner import GENESIS, AuditLog, verify_log


def _fill(path: Path, n: int = 5) -> None:
    with AuditLog(path) as log:
        for i in range(n):
            log.append("refresh", f"job-{i}", {"length": 5, "used": i + 1})


def _edit_field(path: Path) -> None:
    lines = path.read_text().splitlines(keepends=True)
    entry = json.loads(lines[2])
    entry["details"]["used"] = 99
    lines[2] = json.dumps(entry, sort_keys=True, separators=(",", ":")) + "\n"
    path.write_text("".join(lines))


def _delete_middle(path: Path) -> None:
    lines = path.read_text().splitlines(keepends=True)
    del lines[2]
    path.write_text("".join(lines))


def _swap(path: Path) -> None:
    lines = path.read_text().splitlines(keepends=True)
    lines[1], lines[2] = lines[2], lines[1]
    path.write_text("".join(lines))


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 40])


#: (tampering, first line that must be named)
TAMPERINGS: dict[str, tuple[Callable[[Path], None], int]] = {
    "edit a field": (_edit_field, 3),
    "delete a middle line": (_delete_middle, 3),
    "swap two lines": (_swap, 2),
    "truncate": (_truncate, 5),
}


def test_entries_are_chained_with_sha256_over_canonical_json(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    _fill(path, 3)
    prev = GENESIS
    for seq, line in enumerate(path.read_text().splitlines(), start=1):
        entry = json.loads(line)
        assert set(entry) == {"seq", "time", "event", "job", "details", "prev", "hash"}
        assert entry["seq"] == seq and entry["prev"] == prev
        assert entry["time"].endswith("+00:00")
        body = {k: v for k, v in entry.items() if k != "hash"}
        canonical = json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
        assert entry["hash"] == hashlib.sha256(canonical).hexdigest()
        prev = entry["hash"]
    assert verify_log(path)[-1].hash == prev


def test_every_append_is_fsynced(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    synced: list[int] = []
    real = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(fd), real(fd))[1])
    with AuditLog(tmp_path / "audit.jsonl") as log:
        before = len(synced)
        log.append("register", "job", {"length": 1})
        log.append("refresh", "job", {"length": 1})
        assert len(synced) - before == 2


def test_reopening_continues_the_chain(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    _fill(path, 2)
    with AuditLog(path) as log:
        assert log.head[0] == 2
        entry = log.append("refused", "job-x", {"reason": "no"})
        assert entry.seq == 3 and entry.prev == verify_log(path)[1].hash
        assert log.verify() == 3
        assert [e.event for e in log.entries()] == ["refresh", "refresh", "refused"]


def test_a_second_writer_is_refused(tmp_path: Path) -> None:
    with AuditLog(tmp_path / "audit.jsonl"), pytest.raises(PolicyError, match="another"):
        AuditLog(tmp_path / "audit.jsonl")


def test_details_must_be_json_data(tmp_path: Path) -> None:
    with AuditLog(tmp_path / "audit.jsonl") as log, pytest.raises(CorruptDataError):
        log.append("refresh", "job", {"x": float("nan")})


@pytest.mark.parametrize("kind", list(TAMPERINGS))
def test_tampering_is_detected_and_the_line_named(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "audit.jsonl"
    _fill(path)
    tamper, line = TAMPERINGS[kind]
    tamper(path)
    with pytest.raises(CorruptDataError, match=f"line {line}:"):
        verify_log(path)
    with pytest.raises(CorruptDataError, match=f"line {line}:"):
        AuditLog(path)  # opening verifies: a tampered log cannot be continued


@pytest.mark.parametrize("kind", list(TAMPERINGS))
def test_an_open_log_detects_tampering_on_verify(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "audit.jsonl"
    with AuditLog(path) as log:
        for i in range(5):
            log.append("refresh", "job", {"used": i})
        TAMPERINGS[kind][0](path)
        with pytest.raises(CorruptDataError, match="line"):
            log.verify()


def test_an_open_log_detects_lines_cut_from_the_end(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    with AuditLog(path) as log:
        for i in range(4):
            log.append("refresh", "job", {"used": i})
        lines = path.read_text().splitlines(keepends=True)
        path.write_text("".join(lines[:2]))  # a valid, shorter chain
        assert len(verify_log(path)) == 2     # undetectable from the file alone ...
        with pytest.raises(CorruptDataError, match=r"line 3: .*holds only 2"):
            log.verify()                      # ... but not by the writer
        with pytest.raises(CorruptDataError, match="changed size"):
            log.append("refresh", "job", {})


def test_rewritten_whitespace_is_not_canonical(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    _fill(path, 2)
    lines = path.read_text().splitlines()
    lines[0] = json.dumps(json.loads(lines[0]), sort_keys=True)  # same content, spaces
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(CorruptDataError, match=r"line 1: .*canonical"):
        verify_log(path)
