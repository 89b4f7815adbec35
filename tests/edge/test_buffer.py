"""The durable buffer: committed rows survive, batches keep their key until acknowledged, the
byte bound refuses instead of dropping."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hedge.edge import Buffer
from hedge.errors import BufferFullError, TooLargeForBufferError


def rows(n: int, start: int = 0) -> list[dict[str, float]]:
    return [{"x": float(i), "y": float(i % 2)} for i in range(start, start + n)]


def test_rows_and_open_batches_survive_a_restart(tmp_path: Path) -> None:
    buffer = Buffer(tmp_path / "b.db", 10**6, "plant-1")
    buffer.add(rows(5))
    batch = buffer.start_batch(3)
    assert batch is not None and len(batch.rows) == 3
    assert batch.key == f"plant-1-{buffer.id}-00000001" and len(buffer.id) == 8
    buffer.close()  # the process dies before the upload is acknowledged
    again = Buffer(tmp_path / "b.db", 10**6, "plant-1")
    resumed = again.start_batch(3)
    assert resumed is not None and resumed.key == batch.key and resumed.rows == batch.rows
    again.finish_batch(resumed)
    nxt = again.start_batch(10)
    assert nxt is not None and nxt.key.endswith("-00000002")
    assert [r["x"] for r in nxt.rows] == [3.0, 4.0]
    again.finish_batch(nxt)
    assert again.start_batch(10) is None and again.pending() == 0 and again.bytes == 0


def test_bytes_counts_the_stored_payloads_through_batches_and_restarts(tmp_path: Path) -> None:
    def size(rs: list[dict[str, float]]) -> int:
        return sum(len(json.dumps(r, sort_keys=True)) for r in rs)

    buffer = Buffer(tmp_path / "b.db", 10**6, "s")
    buffer.add(rows(4))
    buffer.add(rows(3, 4))
    assert buffer.bytes == size(rows(7))
    batch = buffer.start_batch(5)
    assert batch is not None and buffer.bytes == size(rows(7))  # in a batch, still held
    buffer.finish_batch(batch)
    assert buffer.bytes == size(rows(2, 5))
    buffer.close()
    assert Buffer(tmp_path / "b.db", 10**6, "s").bytes == size(rows(2, 5))


def test_the_byte_bound_refuses_whole_intakes(tmp_path: Path) -> None:
    buffer = Buffer(tmp_path / "b.db", 200, "s")
    buffer.add(rows(3))
    with pytest.raises(BufferFullError, match="wait at their source"):
        buffer.add(rows(8, 3))  # fits an empty buffer, not this one
    with pytest.raises(TooLargeForBufferError, match="more than the whole buffer"):
        buffer.add(rows(11, 3))  # would never fit: told apart whatever the buffer holds
    assert buffer.pending() == 3  # nothing of the refused intakes went in
    batch = buffer.start_batch(10)
    assert batch is not None
    buffer.finish_batch(batch)
    buffer.add(rows(3, 3))  # room again
    with pytest.raises(ValueError):
        buffer.add([{"x": float("nan")}])  # NaN is not JSON: refused, nothing stored
    assert buffer.pending() == 3


def test_sources_and_counts_commit_with_their_rows(tmp_path: Path) -> None:
    buffer = Buffer(tmp_path / "b.db", 10**6, "s")
    assert not buffer.seen("a.csv:abc")
    buffer.add(rows(2), source="a.csv:abc", counts={"class_counts": "[1, 1]"})
    assert buffer.seen("a.csv:abc") and buffer.get("class_counts") == "[1, 1]"
    with pytest.raises(Exception):  # noqa: B017  (sqlite3.IntegrityError: the same source)
        buffer.add(rows(2), source="a.csv:abc", counts={"class_counts": "[2, 2]"})
    assert buffer.pending() == 2 and buffer.get("class_counts") == "[1, 1]"  # all or none


def test_meta_values(tmp_path: Path) -> None:
    buffer = Buffer(tmp_path / "b.db", 100, "s")
    assert buffer.get("refused") is None
    buffer.set("refused", "3")
    buffer.set("refused", "4")
    assert buffer.get("refused") == "4"


def test_stream_rows_are_kept_once_by_machine_and_timestamp(tmp_path: Path) -> None:
    from hedge.edge.buffer import Buffer

    buffer = Buffer(tmp_path / "b.db", 10**6, "s")
    assert buffer.fresh([("m1", 5), ("m1", 6), ("m2", 1)]) == [True, True, True]
    buffer.add([{"a": 1}, {"a": 2}], keys=[("m1", 5), ("m1", 6)])
    # a redelivery, a value sent again after a reconnect, and new rows
    assert buffer.fresh([("m1", 6), ("m1", 7), ("m1", 7), ("m2", 1)]) == [False, True, False,
                                                                          True]
    buffer.close()
    reopened = Buffer(tmp_path / "b.db", 10**6, "s")  # the marks are durable
    assert reopened.fresh([("m1", 6), ("m1", 8)]) == [False, True]
    assert reopened.pending() == 2


def test_the_buffer_s_files_are_for_its_user_only(tmp_path: Path) -> None:
    """The buffer holds the site's rows in clear: its database, write-ahead log and index are
    0600 whatever the umask (SQLite gives its side files the database's mode)."""
    import os
    import stat

    previous = os.umask(0o022)
    try:
        buffer = Buffer(tmp_path / "buffer.db", 10**6, "site")
        buffer.add([{"a": 1.0}], source="f.csv")
        modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in tmp_path.iterdir()}
        buffer.close()
    finally:
        os.umask(previous)
    assert "buffer.db-wal" in modes and set(modes.values()) == {0o600}, modes
