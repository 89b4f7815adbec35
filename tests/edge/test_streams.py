"""The queue between a stream connector and the agent: bounded, counting what it drops."""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

import pytest

from hedge.edge.streams import StreamQueue, milestone


def test_beyond_its_limit_a_stream_queue_drops_the_oldest_rows_and_counts_them(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    queue = StreamQueue("test", tmp_path / "rejected.jsonl", limit=3)
    with caplog.at_level(logging.ERROR, logger="hedge.edge"):
        for i in range(5):
            queue.put(("a", i), {"torque": float(i)})
    taken = queue.take()
    assert taken is not None and [k[1] for k in taken.keys] == [2, 3, 4]
    assert queue.stats.dropped == 2 and queue.stats.received == 5
    assert len(caplog.records) == 1  # a queue that keeps dropping logs now and then


def test_milestones_are_the_1st_10th_100th_and_every_1000th() -> None:
    assert [n for n in range(1, 5001) if milestone(n)] == [1, 10, 100, 1000, 2000, 3000, 4000,
                                                           5000]


def test_wait_waits_for_rows_after_all_queued_ones_were_released(tmp_path: Path) -> None:
    queue = StreamQueue("test", tmp_path / "rejected.jsonl")
    queue.put(("a", 1), {"torque": 1.0})
    assert queue.wait(0)  # rows are waiting
    taken = queue.take()
    assert taken is not None
    taken.acknowledge()
    started = time.monotonic()
    assert not queue.wait(0.3)  # nothing queued: it waits the whole time, then says so
    assert time.monotonic() - started >= 0.25
    threading.Timer(0.1, queue.put, (("a", 2), {"torque": 2.0})).start()
    assert queue.wait(5) and queue.pending() == 1  # and wakes when a row arrives
