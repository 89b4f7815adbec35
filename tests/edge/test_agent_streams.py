"""The whole edge agent on an MQTT source (the real Mosquitto): a crash before the commit and
a crash between the commit and the acknowledgement lose nothing and count nothing twice, and
the rows reach the cloud; a buffer briefly full changes no window feature."""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from hedge.data import Schema
from hedge.edge import EdgeAgent
from hedge.edge.mqtt import MqttConnector
from tests.edge.machines import system_broker_or_skip
from tests.edge.test_agent import agent, cloud_rows, keys, world

__all__ = ["keys", "world"]  # fixtures

START = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


def publish(prefix: str, first: int, count: int,
            temps: Sequence[float] | None = None) -> None:
    """Rows `first`.. of machine mill-1, a second apart (`temps`: their temperatures)."""
    sender = paho.Client(CallbackAPIVersion.VERSION2)
    sender.connect("127.0.0.1", 1883)
    sender.loop_start()
    for i in range(first, first + count):
        temp = 300.0 + i % 10 if temps is None else temps[i - first]
        payload = {"machine": "mill-1", "timestamp": (START + timedelta(seconds=i)).isoformat(),
                   "values": {"temp": temp, "speed": 1500.0 + i, "fail": i % 2}}
        sender.publish(f"{prefix}/mill-1/telemetry", json.dumps(payload), qos=1)
    sender.publish(f"{prefix}/end", b"", qos=1).wait_for_publish(10)
    sender.disconnect()
    sender.loop_stop()


def arrived(edge: EdgeAgent, count: int) -> None:
    deadline = time.monotonic() + 20
    while edge.connector.queue.pending() < count:  # type: ignore[attr-defined]
        assert time.monotonic() < deadline, "the messages did not arrive"
        time.sleep(0.05)


def over_mqtt(world: dict[str, object], config_file: str = "edge.toml",
              data_dir: str = "data") -> str:
    """The world's edge, in `config_file`, on a topic prefix of its own (returned)."""
    prefix, client_id = f"test/{secrets.token_hex(4)}", f"edge-{secrets.token_hex(4)}"
    folder = Path(str(world["dir"]))
    text = (folder / "edge.toml").read_text().replace('data_dir = "data"',
                                                      f'data_dir = "{data_dir}"')
    text = text[:text.index("[source]")] + (
        f'[source]\nkind = "mqtt"\nbroker = "mqtt://127.0.0.1:1883"\nclient_id = "{client_id}"'
        f'\ntopics = ["{prefix}/+/telemetry"]\n[source.fields]\ntemp = "temp"\n'
        'speed = "speed"\nfail = "fail"\n[upload]\nbatch_rows = 100\nmax_wait_seconds = 0\n')
    (folder / config_file).write_text(text)
    return prefix


def test_crashes_at_the_edge_lose_nothing_and_count_nothing_twice(
        world: dict[str, object]) -> None:
    system_broker_or_skip()
    prefix = over_mqtt(world)

    first = agent(world)
    first.connector.start()
    assert first.connector.connected.wait(10)  # type: ignore[attr-defined]
    publish(prefix, 0, 10)
    arrived(first, 10)
    assert first.ingest().ingested == 10  # committed and acknowledged
    publish(prefix, 10, 10)
    arrived(first, 10)
    connector: MqttConnector = first.connector  # type: ignore[assignment]
    intake = connector.queue.take()
    assert intake is not None and len(intake.rows) == 10
    first.buffer.add(intake.rows, keys=intake.keys)  # committed, then the edge died unacked
    publish(prefix, 20, 5)
    arrived(first, 15)  # and these it never committed
    first.close()

    second = agent(world)
    second.connector.start()
    deadline, ingested = time.monotonic() + 20, 0
    while second.buffer.pending() < 25 and time.monotonic() < deadline:
        second.connector.wait(0.2)
        ingested += second.ingest().ingested
    assert ingested == 5 and second.buffer.pending() == 25  # the redelivered 10 dropped
    report = second.step()
    second.close()
    assert report.uploaded_rows == 25 and sum(cloud_rows(world)) == 25
    assert second.connector.queue.stats.acknowledged >= 15  # type: ignore[attr-defined]


#: temperatures whose 3-sample means leave [300, 310] after the spike: rows 12 and 15 are
#: refused for their window feature, and their readings are in their neighbours' windows
TEMPS = [304.0, 306.0, 330.0, 290.0, 300.0, 306.0, 304.0, 305.0, 305.0, 305.0]


def test_a_buffer_briefly_full_changes_no_window_feature(world: dict[str, object]) -> None:
    system_broker_or_skip()
    folder = Path(str(world["dir"]))
    Schema.from_dict({"version": 1, "features": [
        {"name": "temp", "low": 280.0, "high": 340.0},
        {"name": "speed", "low": 1000.0, "high": 2000.0},
        {"name": "temp mean3", "low": 300.0, "high": 310.0}],
        "label": {"name": "fail", "kind": "binary", "positive": 1},
        "windows": [{"source": "temp", "size": 3, "stats": ["mean"]}]}).save(
            folder / "schema.json")
    buffered, rejected, counts = [], [], []
    for full in (False, True):
        name = "full" if full else "room"
        prefix = over_mqtt(world, f"{name}.toml", name)
        edge = agent(world, config_file=f"{name}.toml")
        edge.connector.start()
        assert edge.connector.connected.wait(10)  # type: ignore[attr-defined]
        publish(prefix, 0, 10, [305.0] * 10)
        arrived(edge, 10)
        assert edge.ingest().ingested == 10
        publish(prefix, 10, 10, TEMPS)
        arrived(edge, 10)
        if full:
            edge.buffer.max_bytes = edge.buffer.bytes + 100  # not room for the next rows
            assert edge.ingest().buffer_full
            edge.buffer.max_bytes = 64 * 2**20
        report = edge.ingest()
        batch = edge.buffer.start_batch(1000)
        assert batch is not None
        buffered.append(batch.rows)
        counts.append((report.ingested, report.rejected))
        lines = (folder / name / "rejected.jsonl").read_text().splitlines()
        rejected.append([(r["row"]["temp"], r["reason"]) for r in map(json.loads, lines)])
        assert edge.connector.queue.pending() == 0  # type: ignore[attr-defined]
        edge.close()
    assert [r["temp mean3"] for r in buffered[1]] == [r["temp mean3"] for r in buffered[0]]
    assert buffered[0] == buffered[1] and len(buffered[0]) == 18  # the same rows, whole
    assert counts == [(8, 2), (8, 2)]
    assert rejected[0] == rejected[1] and [t for t, _ in rejected[0]] == [330.0, 306.0]
