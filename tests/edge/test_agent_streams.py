"""The whole edge agent on an MQTT source (the real Mosquitto): a crash before the commit and
a crash between the commit and the acknowledgement lose nothing and count nothing twice, and
the rows reach the cloud."""

from __future__ import annotations

import json
import secrets
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from hedge.edge import EdgeAgent
from hedge.edge.mqtt import MqttConnector
from tests.edge.machines import system_broker_or_skip
from tests.edge.test_agent import agent, cloud_rows, keys, world

__all__ = ["keys", "world"]  # fixtures

START = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


def publish(prefix: str, first: int, count: int) -> None:
    sender = paho.Client(CallbackAPIVersion.VERSION2)
    sender.connect("127.0.0.1", 1883)
    sender.loop_start()
    for i in range(first, first + count):
        payload = {"machine": "mill-1", "timestamp": (START + timedelta(seconds=i)).isoformat(),
                   "values": {"temp": 300.0 + i % 10, "speed": 1500.0 + i, "fail": i % 2}}
        sender.publish(f"{prefix}/mill-1/telemetry", json.dumps(payload), qos=1)
    sender.publish(f"{prefix}/end", b"", qos=1).wait_for_publish(10)
    sender.disconnect()
    sender.loop_stop()


def arrived(edge: EdgeAgent, count: int) -> None:
    deadline = time.monotonic() + 20
    while edge.connector.queue.pending() < count:  # type: ignore[attr-defined]
        assert time.monotonic() < deadline, "the messages did not arrive"
        time.sleep(0.05)


def test_crashes_at_the_edge_lose_nothing_and_count_nothing_twice(
        world: dict[str, object]) -> None:
    system_broker_or_skip()
    prefix, client_id = f"test/{secrets.token_hex(4)}", f"edge-{secrets.token_hex(4)}"
    folder = Path(str(world["dir"]))
    text = (folder / "edge.toml").read_text()
    text = text[:text.index("[source]")] + (
        f'[source]\nkind = "mqtt"\nbroker = "mqtt://127.0.0.1:1883"\nclient_id = "{client_id}"'
        f'\ntopics = ["{prefix}/+/telemetry"]\n[source.fields]\ntemp = "temp"\n'
        'speed = "speed"\nfail = "fail"\n[upload]\nbatch_rows = 100\nmax_wait_seconds = 0\n')
    (folder / "edge.toml").write_text(text)

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
