"""The MQTT connector against the real Mosquitto broker: rows arrive complete and in order,
malformed payloads are counted and kept, and nothing acknowledged is lost when the edge or the
broker restarts (a broker of our own for the restart)."""

from __future__ import annotations

import json
import logging
import secrets
import threading
import time
from pathlib import Path

import paho.mqtt.client as paho
import pandas as pd
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from hedge.edge.mqtt import MqttConnector, parse_telemetry
from hedge.errors import HedgeError
from hedge.sim.broker import BrokerTls
from hedge.sim.mqtt_publisher import TelemetryPublisher
from hedge.sim.runner import SimulatorThread
from hedge.sim.telemetry import ReplaySource
from hedge.wire.mqtt_settings import MqttSettings
from hedge.wire.pki import CertificateAuthority
from tests.edge.machines import VARIABLES, own_mosquitto, recorded, system_broker_or_skip

FIELDS = {v.name: v.column for v in VARIABLES}
COLUMNS = [v.column for v in VARIABLES]


def settings_of(broker: str | MqttSettings) -> MqttSettings:
    return broker if isinstance(broker, MqttSettings) else MqttSettings.parse(broker)


def connector(broker: str | MqttSettings, prefix: str, tmp_path: Path, client_id: str,
              fields: dict[str, str] = FIELDS) -> MqttConnector:
    c = MqttConnector(settings_of(broker), client_id, [f"{prefix}/+/telemetry"], fields,
                      tmp_path / "rejected.jsonl")
    c.start()
    assert c.connected.wait(10)  # subscribed: the broker acknowledged the subscription
    return c


def receive(c: MqttConnector, count: int, timeout: float = 30,
            acknowledge: bool = True) -> list[dict]:
    rows: list[dict] = []
    deadline = time.monotonic() + timeout
    while len(rows) < count and time.monotonic() < deadline:
        if c.wait(0.2):
            intake = c.queue.take()
            assert intake is not None
            new = intake.rows[len(rows):] if not acknowledge else intake.rows
            rows = intake.rows if not acknowledge else rows + new
            if acknowledge:
                intake.acknowledge()
    return rows


def publish(broker: str | MqttSettings, prefix: str, frame: pd.DataFrame) -> None:
    with TelemetryPublisher(settings_of(broker), prefix) as publisher, \
            SimulatorThread([ReplaySource("mill-1", frame, VARIABLES)], rate=2000,
                            publisher=publisher) as sim:
        sim.start_publishing()
        assert sim.finished.wait(30)


def test_rows_arrive_complete_and_in_order(tmp_path: Path) -> None:
    url, prefix = system_broker_or_skip(), f"test/{secrets.token_hex(4)}"
    c = connector(url, prefix, tmp_path, f"edge-{secrets.token_hex(4)}")
    expected = recorded(2000)
    # received while published, as an edge does (the system broker queues at most 1,000
    # messages for a client that lags: its max_queued_messages)
    sender = threading.Thread(target=publish, args=(url, prefix, expected))
    sender.start()
    rows = receive(c, len(expected))
    sender.join()
    c.close()
    pd.testing.assert_frame_equal(pd.DataFrame(rows)[COLUMNS], expected[COLUMNS],
                                  check_dtype=False)
    assert c.queue.stats.malformed == 0


def test_malformed_payloads_are_counted_and_kept_and_the_rest_goes_on(tmp_path: Path) -> None:
    url, prefix = system_broker_or_skip(), f"test/{secrets.token_hex(4)}"
    c = connector(url, prefix, tmp_path, f"edge-{secrets.token_hex(4)}")
    good = json.loads(parse_payload_example())
    bad = [b"not json", b"[1, 2]", json.dumps({**good, "timestamp": "yesterday"}).encode(),
           json.dumps({**good, "values": {**good["values"], "Torque": [1]}}).encode(),
           json.dumps({k: v for k, v in good.items() if k != "machine"}).encode()]
    sender = paho.Client(CallbackAPIVersion.VERSION2)
    sender.connect("127.0.0.1", 1883)
    sender.loop_start()
    for payload in [*bad, json.dumps(good).encode()]:
        sender.publish(f"{prefix}/mill-1/telemetry", payload, qos=1).wait_for_publish(5)
    sender.disconnect()
    sender.loop_stop()
    rows = receive(c, 1)
    c.close()
    assert len(rows) == 1 and rows[0]["Torque [Nm]"] == 41.5
    assert c.queue.stats.malformed == len(bad)
    kept = (tmp_path / "rejected.jsonl").read_text().splitlines()
    assert len(kept) == len(bad) and "not json" in kept[0]


def parse_payload_example() -> str:
    values = {"Type": "L", "AirTemperature": 300.0, "ProcessTemperature": 310.0,
              "RotationalSpeed": 1500.0, "Torque": 41.5, "ToolWear": 10,
              "MachineFailure": False}
    return json.dumps({"machine": "mill-1", "cycle": 1,
                       "timestamp": "2026-11-23T09:00:00.000001+00:00", "values": values})


def test_parse_telemetry_gives_machine_position_and_row() -> None:
    machine, position, row = parse_telemetry(parse_payload_example().encode(), FIELDS)
    assert machine == "mill-1" and position == 1_795_424_400_000_001
    assert row["Torque [Nm]"] == 41.5 and set(row) == set(COLUMNS)


@pytest.mark.parametrize(("payload", "says"), [
    (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
    (parse_payload_example().replace("41.5", "NaN").encode(), "not JSON: NaN"),
    (parse_payload_example().replace("41.5", "1e400").encode(), "not a finite number"),
    (parse_payload_example().replace("41.5", "9" * 5000).encode(), "not JSON"),
    (b"\xff\xfe", "not JSON"),
])
def test_hostile_telemetry_is_a_value_error_naming_why(payload: bytes, says: str) -> None:
    """What a publisher on the plant's broker sends is refused as malformed (counted and kept
    aside by the connector), never an exception the connector's callback does not catch."""
    with pytest.raises(ValueError, match=says):
        parse_telemetry(payload, FIELDS)


def test_unacknowledged_messages_come_again_to_a_restarted_edge(tmp_path: Path) -> None:
    url, prefix = system_broker_or_skip(), f"test/{secrets.token_hex(4)}"
    client_id = f"edge-{secrets.token_hex(4)}"
    c = connector(url, prefix, tmp_path, client_id)
    expected = recorded(15)  # within the broker's in-flight window
    publish(url, prefix, expected)
    assert len(receive(c, len(expected), acknowledge=False)) == len(expected)
    c.close()  # crashed before the buffer committed: nothing was acknowledged
    again = connector(url, prefix, tmp_path, client_id)
    rows = receive(again, len(expected))
    again.close()
    pd.testing.assert_frame_equal(pd.DataFrame(rows)[COLUMNS], expected[COLUMNS],
                                  check_dtype=False)


def test_a_broker_restart_loses_nothing_it_acknowledged(tmp_path: Path) -> None:
    prefix, client_id = "factory/test", f"edge-{secrets.token_hex(4)}"
    with own_mosquitto(tmp_path / "broker") as port:
        url = f"mqtt://127.0.0.1:{port}"
        c = connector(url, prefix, tmp_path, client_id)  # the persistent session exists
        c.close()  # the edge is away
        expected = recorded(500)
        publish(url, prefix, expected)  # acknowledged by the broker, queued for the edge
    with own_mosquitto(tmp_path / "broker", port):  # restarted from its persistence file
        again = connector(url, prefix, tmp_path, client_id)
        rows = receive(again, len(expected))
        again.close()
    pd.testing.assert_frame_equal(pd.DataFrame(rows)[COLUMNS], expected[COLUMNS],
                                  check_dtype=False)


@pytest.mark.datasets
def test_cmapss_engine_cycles_replay_over_mqtt(tmp_path: Path) -> None:
    from hedge.data import load_cmapss
    from hedge.sim.telemetry import CMAPSS_VARIABLES

    url, prefix = system_broker_or_skip(), f"test/{secrets.token_hex(4)}"
    cycles = load_cmapss()[0].iloc[:300]
    fields = {v.name: v.column for v in CMAPSS_VARIABLES}
    c = connector(url, prefix, tmp_path, f"edge-{secrets.token_hex(4)}", fields)
    with TelemetryPublisher(MqttSettings.parse(url), prefix) as publisher, \
            SimulatorThread([ReplaySource("engine-1", cycles, CMAPSS_VARIABLES)], rate=2000,
                            publisher=publisher) as sim:
        sim.start_publishing()
        rows = receive(c, len(cycles))
    c.close()
    got = pd.DataFrame(rows)[list(fields.values())]
    pd.testing.assert_frame_equal(got, cycles[list(fields.values())].reset_index(drop=True),
                                  check_dtype=False)


def test_rows_arrive_over_tls_with_user_and_password(tmp_path: Path) -> None:
    ca = CertificateAuthority.create("test")
    ca_file, cert, key = tmp_path / "ca.pem", tmp_path / "broker.pem", tmp_path / "broker.key"
    ca_file.write_bytes(ca.cert_pem)
    ca.issue("broker", "server", hosts=("127.0.0.1",)).save(cert, key)
    prefix, client_id = "factory/test", f"edge-{secrets.token_hex(4)}"
    with own_mosquitto(tmp_path / "broker", users={"edge": "edge:pw", "mill": "mill@pw"},
                       tls=BrokerTls(ca_file, cert, key)) as port:
        edge = MqttSettings.parse(f"mqtts://edge:edge%3Apw@127.0.0.1:{port}", ca_file=ca_file)
        machine = MqttSettings.parse(f"mqtts://127.0.0.1:{port}", username="mill",
                                     password="mill@pw", ca_file=ca_file)
        c = connector(edge, prefix, tmp_path, client_id)
        expected = recorded(200)
        publish(machine, prefix, expected)
        rows = receive(c, len(expected), timeout=10)
        c.close()
    pd.testing.assert_frame_equal(pd.DataFrame(rows)[COLUMNS], expected[COLUMNS],
                                  check_dtype=False)


def test_a_broker_that_cannot_be_verified_is_reported_not_silent(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    ca, other = CertificateAuthority.create("test"), CertificateAuthority.create("other")
    ca_file, cert, key = tmp_path / "ca.pem", tmp_path / "broker.pem", tmp_path / "broker.key"
    ca_file.write_bytes(ca.cert_pem)
    (tmp_path / "other.pem").write_bytes(other.cert_pem)
    ca.issue("broker", "server", hosts=("127.0.0.1",)).save(cert, key)
    with own_mosquitto(tmp_path / "broker", tls=BrokerTls(ca_file, cert, key)) as port:
        wrong = MqttSettings.parse(f"mqtts://127.0.0.1:{port}", ca_file=tmp_path / "other.pem")
        with pytest.raises(HedgeError, match=r"cannot connect to the MQTT broker.*certificate "
                                             r"verify failed"), TelemetryPublisher(wrong):
            pass  # the simulated machine's publisher says so at once
        with caplog.at_level(logging.WARNING, logger="hedge.edge"):
            c = MqttConnector(wrong, f"edge-{secrets.token_hex(4)}", ["factory/+/telemetry"],
                              FIELDS, tmp_path / "rejected.jsonl")
            c.start()
            deadline = time.monotonic() + 10
            while "cannot connect" not in caplog.text and time.monotonic() < deadline:
                time.sleep(0.05)
            c.close()
    assert not c.connected.is_set() and c.queue.stats.connect_failures >= 1
    assert f"cannot connect to the MQTT broker mqtts://127.0.0.1:{port} (1 attempts" \
        in caplog.text


def send(url: str, topic: str, payload: bytes) -> None:
    sender = MqttSettings.parse(url).client()
    sender.connect("127.0.0.1", MqttSettings.parse(url).port)
    sender.loop_start()
    sender.publish(topic, payload, qos=1).wait_for_publish(5)
    sender.disconnect()
    sender.loop_stop()


def test_an_acknowledgement_from_an_earlier_connection_acknowledges_nothing_on_a_later_one(
        tmp_path: Path) -> None:
    """The broker is replaced by one without the edge's session (same port, none of the first
    broker's state), so message A, received on the edge's first connection, and message B, on
    its second, carry the same packet id. A committed after the reconnect must send no PUBACK:
    it would acknowledge B, which the edge has not committed, and a crash would lose B."""
    prefix, client_id = "factory/test", f"edge-{secrets.token_hex(4)}"
    topic, example = f"{prefix}/mill-1/telemetry", json.loads(parse_payload_example())
    message_a = json.dumps({**example, "values": {**example["values"], "Torque": 1.0}})
    message_b = json.dumps({**example, "timestamp": "2026-11-23T09:00:01+00:00",
                            "values": {**example["values"], "Torque": 2.0}})
    with own_mosquitto(tmp_path / "first") as port:
        url = f"mqtt://127.0.0.1:{port}"
        c = connector(url, prefix, tmp_path, client_id)
        send(url, topic, message_a.encode())
        assert c.wait(5)
        first = c.queue.take()  # A, not yet committed
        assert first is not None and first.rows[0]["Torque [Nm]"] == 1.0
    with own_mosquitto(tmp_path / "second", port):  # a broker that knows no session
        deadline = time.monotonic() + 10
        while c.queue.stats.reconnects < 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert c.connected.wait(10)  # subscribed again, on the second connection
        send(url, topic, message_b.encode())
        while c.queue.pending() < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert c.queue.pending() == 2
        (_, mid_a, _), (_, mid_b, _) = [e.token for e in c.queue._entries]  # A, then B
        assert mid_a == mid_b  # what makes a stale acknowledgement dangerous
        first.acknowledge()  # A is durable now
        c.close()  # and the edge stops before B is
        again = connector(url, prefix, tmp_path, client_id)
        rows = receive(again, 1, timeout=5)
        again.close()
    assert [row["Torque [Nm]"] for row in rows] == [2.0]  # B comes again: it was not acked


def test_a_message_committed_while_the_connection_is_down_is_not_acknowledged(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """paho sends on the next connection what was queued after it reconnected, and it
    reconnects before the broker's CONNACK says whether the session survived. A message of
    the lost connection committed in that gap must queue no PUBACK: the broker redelivers it
    (and a fresh session would give its packet id to another message)."""
    prefix, client_id = "factory/test", f"edge-{secrets.token_hex(4)}"
    topic, example = f"{prefix}/mill-1/telemetry", json.loads(parse_payload_example())
    with own_mosquitto(tmp_path / "broker") as port:
        url = f"mqtt://127.0.0.1:{port}"
        c = connector(url, prefix, tmp_path, client_id)
        acks: list[int] = []
        paho_ack = c._client.ack
        monkeypatch.setattr(c._client, "ack",
                            lambda mid, qos: acks.append(mid) or paho_ack(mid, qos))
        send(url, topic, parse_payload_example().encode())
        assert c.wait(5)
        first = c.queue.take()
        assert first is not None
        first.acknowledge()
        assert len(acks) == 1  # committed while connected: acknowledged
        later = {**example, "timestamp": "2026-11-23T09:00:01+00:00"}
        send(url, topic, json.dumps(later).encode())
        assert c.wait(5)
        second = c.queue.take()
        assert second is not None
    deadline = time.monotonic() + 10  # the broker has stopped
    while c.connected.is_set() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not c.connected.is_set()
    second.acknowledge()  # committed after the connection was lost
    c.close()
    assert len(acks) == 1
