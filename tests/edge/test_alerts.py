"""Alert state with hysteresis, the alert policy signed with a model, and alerts to MQTT."""

from __future__ import annotations

import json
import secrets
import threading
import time
from pathlib import Path

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from hedge.edge.alerts import AlertTracker, MqttAlertSink
from hedge.edge.mqtt import MqttConnector
from hedge.edge.sinks import Prediction
from hedge.errors import PolicyError
from hedge.wire.mqtt_settings import MqttSettings
from hedge.wire.package import AlertPolicy
from tests.edge.machines import own_mosquitto, system_broker_or_skip


def test_hysteresis_keeps_an_alert_on_until_the_probability_falls_below_the_band() -> None:
    tracker, policy = AlertTracker(), AlertPolicy(0.6, 0.2)
    states = [tracker.update("m", p, policy) for p in (0.5, 0.61, 0.45, 0.41, 0.39, 0.59)]
    assert states == [False, True, True, True, False, False]
    assert tracker.update("other", 0.5, policy) is False  # per machine


@pytest.mark.parametrize(("threshold", "hysteresis"), [(0, 0), (1, 0), (0.5, 0.5), (0.5, -0.1)])
def test_unsound_policies_are_refused(threshold: float, hysteresis: float) -> None:
    with pytest.raises(PolicyError):
        AlertPolicy(threshold, hysteresis)


def test_alerts_reach_the_machines_topic(tmp_path: Path) -> None:
    url, prefix = system_broker_or_skip(), f"test/{secrets.token_hex(4)}"
    received: list[dict[str, object]] = []
    done = threading.Event()
    listener = paho.Client(CallbackAPIVersion.VERSION2)

    def on_message(client: object, userdata: object, message: paho.MQTTMessage) -> None:
        received.append(json.loads(message.payload))
        if len(received) == 3:
            done.set()

    listener.on_message = on_message
    listener.connect("127.0.0.1", 1883)
    listener.subscribe(f"{prefix}/+/alerts", qos=1)
    listener.loop_start()
    edge = MqttConnector(MqttSettings.parse(url), f"edge-{secrets.token_hex(4)}", [f"{prefix}/x"],
                         {"Torque": "Torque [Nm]"}, tmp_path / "rejected.jsonl")
    edge.start()
    assert edge.connected.wait(10)
    sink = MqttAlertSink(edge, prefix + "/{machine}/alerts")
    sink.write([Prediction("p", "s", 0, 2, 0.2, False, "mill-1", 1),
                Prediction("p", "s", 1, 2, 0.3, False, "mill-1", 2),
                Prediction("p", "s", 2, 2, 0.8, True, "mill-1", 3),
                Prediction("p", "s", 3, 2, 0.7, True, "mill-1", 4)])
    assert done.wait(10)
    edge.close()
    listener.loop_stop()
    # the first state, the change to alert, and the latest prediction
    assert [r["alert"] for r in received] == [False, True, True]
    assert received[-1]["probability"] == 0.7 and received[-1]["model_version"] == 2


def test_an_alert_raised_while_the_broker_is_away_goes_out_after_the_edge_reconnects(
        tmp_path: Path) -> None:
    """The operator's client keeps a persistent session, so the broker, restarted from its
    persistence file, queues the alert for it even if the edge is back first."""
    prefix = "factory/test"
    received: list[dict[str, object]] = []
    done = threading.Event()

    def on_message(client: object, userdata: object, message: paho.MQTTMessage) -> None:
        received.append(json.loads(message.payload))
        done.set()

    with own_mosquitto(tmp_path / "broker") as port:
        settings = MqttSettings.parse(f"mqtt://127.0.0.1:{port}")
        operator = settings.client(f"operator-{secrets.token_hex(4)}", persistent=True)
        operator.on_message = on_message
        operator.connect("127.0.0.1", port)
        operator.subscribe(f"{prefix}/+/alerts", qos=1)
        operator.loop_start()
        edge = MqttConnector(settings, f"edge-{secrets.token_hex(4)}", [f"{prefix}/x"],
                             {"Torque": "Torque [Nm]"}, tmp_path / "rejected.jsonl")
        edge.start()
        assert edge.connected.wait(10)
    deadline = time.monotonic() + 10  # the broker has stopped
    while edge.connected.is_set() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not edge.connected.is_set()
    sink = MqttAlertSink(edge, prefix + "/{machine}/alerts")
    sink.write([Prediction("p", "s", 0, 2, 0.9, True, "mill-1", 1)])
    assert sink.failures == 0  # waiting in the client, not failed
    with own_mosquitto(tmp_path / "broker", port):
        assert done.wait(30), "the alert did not arrive after the broker came back"
        edge.close()
        operator.loop_stop()
    assert [(r["machine"], r["alert"], r["probability"]) for r in received] == \
        [("mill-1", True, 0.9)]
