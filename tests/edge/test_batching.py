"""Uploads wait for a worthwhile batch: `[upload] batch_rows` rows pending, or the oldest
pending row `max_wait_seconds` old, or the buffer full; an open batch goes at once, and a flush
uploads everything. Time comes from a clock the tests move."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from hedge.edge import Buffer, EdgeAgent
from hedge.edge.config import DEFAULT_MAX_WAIT, EdgeConfig
from hedge.errors import BufferFullError, ParameterError, SchemaError
from tests.cli.invoke import invoker
from tests.edge.test_agent import Killed, agent, cloud_rows, drop, keys, world

__all__ = ["keys", "world"]  # fixtures

START = 1_800_000_000.0  # seconds since 1970 (2027-01-15)


class Clock:
    """Wall time as the tests set it."""

    def __init__(self, now: float = START) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def configure(world: dict[str, object], batch_rows: int, max_wait: object) -> None:
    """The world's edge.toml with these `[upload]` settings."""
    path = Path(str(world["dir"])) / "edge.toml"
    text = path.read_text()
    path.write_text(text.split("[upload]")[0]
                    + f"[upload]\nbatch_rows = {batch_rows}\nmax_wait_seconds = {max_wait}\n")


def batching_edge(world: dict[str, object], batch_rows: int,
                  max_wait: float) -> tuple[EdgeAgent, Clock]:
    """The world's edge with these `[upload]` settings, on a clock of its own."""
    configure(world, batch_rows, max_wait)
    clock = Clock()
    return agent(world, clock=clock), clock


def test_a_trickle_below_batch_rows_waits_until_its_oldest_row_is_max_wait_old(
        world: dict[str, object]) -> None:
    edge, clock = batching_edge(world, 100, 300)
    drop(world, "a.csv", 5)
    report = edge.step()
    assert (report.ingested, report.uploaded_rows, report.waiting) == (5, 0, 5)
    clock.now += 200
    drop(world, "b.csv", 3, seed=1)
    assert edge.step().uploaded_rows == 0
    clock.now += 99.75  # the oldest row has waited 299.75 s
    assert edge.step().uploaded_rows == 0 and cloud_rows(world) == []
    clock.now += 0.25
    report = edge.step()
    assert (report.uploaded_rows, report.waiting) == (8, 0)  # both files, one batch
    assert cloud_rows(world) == [8]
    drop(world, "c.csv", 2, seed=2)  # the next rows wait from their own arrival
    assert edge.step().waiting == 2
    clock.now += 299
    assert edge.step().uploaded_rows == 0
    clock.now += 1
    assert edge.step().uploaded_rows == 2 and cloud_rows(world) == [8, 2]
    edge.close()


def test_the_wait_survives_a_restart(world: dict[str, object]) -> None:
    edge, clock = batching_edge(world, 100, 300)
    drop(world, "a.csv", 4)
    assert edge.step().waiting == 4
    edge.close()
    clock.now += 300
    again = agent(world, clock=clock)  # a new process: the arrival times are in the buffer
    assert again.step().uploaded_rows == 4
    again.close()


def test_full_batches_go_at_once_and_the_rest_waits(world: dict[str, object]) -> None:
    edge, clock = batching_edge(world, 10, 300)
    drop(world, "a.csv", 25)
    report = edge.step()
    assert (report.uploaded_rows, report.waiting) == (20, 5) and cloud_rows(world) == [10, 10]
    clock.now += 300
    assert edge.step().uploaded_rows == 5 and cloud_rows(world) == [10, 10, 5]
    edge.close()


def test_max_wait_zero_uploads_whatever_is_pending_at_every_cycle(
        world: dict[str, object]) -> None:
    edge, _ = batching_edge(world, 100, 0)  # the clock never moves
    drop(world, "a.csv", 3)
    assert edge.step().uploaded_rows == 3
    drop(world, "b.csv", 2, seed=1)
    assert edge.step().uploaded_rows == 2 and cloud_rows(world) == [3, 2]
    edge.close()


def test_a_flush_uploads_every_pending_row(world: dict[str, object]) -> None:
    edge, _ = batching_edge(world, 10, 300)
    drop(world, "a.csv", 3)
    assert edge.step().uploaded_rows == 0
    drop(world, "b.csv", 22, seed=1)
    report = edge.step(flush=True)
    assert (report.uploaded_rows, report.waiting) == (25, 0)
    assert cloud_rows(world) == [10, 10, 5]
    edge.close()


def test_an_open_batch_is_resumed_at_once_after_a_crash(world: dict[str, object]) -> None:
    edge, clock = batching_edge(world, 100, 300)
    drop(world, "a.csv", 3)

    def die(_: object) -> None:
        raise Killed

    edge.buffer.finish_batch = die  # type: ignore[method-assign]
    with pytest.raises(Killed):  # flushed, uploaded, killed before recording it
        edge.step(flush=True)
    edge.close()
    again = agent(world, clock=clock)  # the clock has not moved: the rows are not due
    report = again.step()
    assert report.uploaded_rows == 3 and report.waiting == 0  # the open batch, at once
    assert cloud_rows(world) == [3]  # under its key: counted once
    again.close()


def test_a_buffer_that_refused_rows_makes_its_pending_rows_due(tmp_path: Path) -> None:
    clock = Clock()
    buffer = Buffer(tmp_path / "b.db", 60, "s", clock=clock)  # 6 rows of 10 bytes
    buffer.add([{"x": float(i)} for i in range(3)])
    assert buffer.start_batch(100, 300) is None  # 3 of 100 rows, none has waited
    with pytest.raises(BufferFullError):
        buffer.add([{"x": float(i)} for i in range(3, 7)])
    batch = buffer.start_batch(100, 300)  # waiting for more rows would not make room
    assert batch is not None and len(batch.rows) == 3
    buffer.finish_batch(batch)
    buffer.add([{"x": 20.0}])
    assert buffer.start_batch(100, 300) is None  # room again: rows wait as before


def test_a_clock_set_back_does_not_hold_rows_back(tmp_path: Path) -> None:
    clock = Clock()
    buffer = Buffer(tmp_path / "b.db", 10**6, "s", clock=clock)
    buffer.add([{"x": 1.0}])
    clock.now -= 3600  # the clock is set back an hour after the row arrived
    batch = buffer.start_batch(100, 300)
    assert batch is not None and len(batch.rows) == 1


OLD_SCHEMA = """
    CREATE TABLE row (id INTEGER PRIMARY KEY, payload TEXT NOT NULL, bytes INTEGER NOT NULL,
                      batch INTEGER);
    CREATE TABLE batch (id INTEGER PRIMARY KEY, key TEXT UNIQUE NOT NULL,
                        uploaded INTEGER NOT NULL DEFAULT 0);
    CREATE TABLE meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE source (name TEXT PRIMARY KEY);
    CREATE INDEX row_batch ON row (batch);
    INSERT INTO meta VALUES ('id', 'a1b2c3d4'), ('mark:m1', '7'), ('class_counts', '[2, 3]');
    INSERT INTO source VALUES ('a.csv:0123');
    INSERT INTO batch (id, key) VALUES (1, 's-a1b2c3d4-00000001');
    INSERT INTO row (payload, bytes, batch) VALUES ('{"x": 0.0}', 10, 1), ('{"x": 1.0}', 10, 1),
                                                   ('{"x": 2.0}', 10, NULL),
                                                   ('{"x": 3.0}', 10, NULL);
"""


def test_a_buffer_written_before_arrival_times_were_kept_is_migrated_whole(
        tmp_path: Path) -> None:
    path = tmp_path / "buffer.db"
    with sqlite3.connect(path) as old:
        old.executescript(OLD_SCHEMA)
    clock = Clock()
    buffer = Buffer(path, 10**6, "s", clock=clock)
    assert (buffer.id, buffer.bytes, buffer.pending()) == ("a1b2c3d4", 40, 2)
    assert buffer.seen("a.csv:0123") and buffer.get("class_counts") == "[2, 3]"
    assert buffer.fresh([("m1", 7), ("m1", 8)]) == [False, True]
    batch = buffer.start_batch(100, 300)  # the open batch first, whatever the wait
    assert batch is not None and batch.key == "s-a1b2c3d4-00000001"
    assert [r["x"] for r in batch.rows] == [0.0, 1.0]
    buffer.finish_batch(batch)
    buffer.add([{"x": 4.0}])  # stamped with its arrival
    buffer.close()
    again = Buffer(path, 10**6, "s", clock=clock)  # the migration is done once
    # the rows of before are due at once, as under the code that buffered them: 2 rows of
    # 100, no time passed since the new row came, and yet a batch
    batch = again.start_batch(100, 300)
    assert batch is not None and [r["x"] for r in batch.rows] == [2.0, 3.0, 4.0]
    assert batch.key == "s-a1b2c3d4-00000002"
    again.close()
    with sqlite3.connect(path) as db:
        assert [r[0] for r in db.execute("SELECT arrived FROM row ORDER BY id")] == [0.0, 0.0,
                                                                                    START]


@pytest.mark.parametrize("value", ["-1", '"300"', "true", "nan", "inf", "[300]"])
def test_max_wait_must_be_a_number_of_seconds(world: dict[str, object], value: str) -> None:
    configure(world, 100, value)
    with pytest.raises(SchemaError, match=r"max_wait_seconds must be a number of seconds, zero "
                                          r"or more .*not "):
        EdgeConfig.load(Path(str(world["dir"])) / "edge.toml")


def test_max_wait_defaults_to_five_minutes_and_takes_fractions(
        world: dict[str, object]) -> None:
    path = Path(str(world["dir"])) / "edge.toml"
    text = path.read_text()
    path.write_text(text.split("[upload]")[0])
    assert EdgeConfig.load(path).max_wait_seconds == DEFAULT_MAX_WAIT == 300.0
    configure(world, 100, 12.5)
    assert EdgeConfig.load(path).max_wait_seconds == 12.5


def test_the_cli_flushes_only_a_single_cycle(world: dict[str, object]) -> None:
    hedge = invoker()
    with pytest.raises(ParameterError, match="--flush goes with --once"):
        hedge("edge", "run", "--config", Path(str(world["dir"])) / "edge.toml", "--flush")
