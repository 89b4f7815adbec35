"""The queue between a stream connector and the agent: bounded, counting what it drops."""

from __future__ import annotations

from pathlib import Path

from hedge.edge.streams import StreamQueue


def test_beyond_its_limit_a_stream_queue_drops_the_oldest_rows_and_counts_them(
        tmp_path: Path) -> None:
    queue = StreamQueue("test", tmp_path / "rejected.jsonl", limit=3)
    for i in range(5):
        queue.put(("a", i), {"torque": float(i)})
    taken = queue.take()
    assert taken is not None and [k[1] for k in taken.keys] == [2, 3, 4]
    assert queue.stats.dropped == 2 and queue.stats.received == 5
