"""The demo's broker: the local Mosquitto when it answers, else an in-process one."""

from __future__ import annotations

import threading

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from hedge.sim import broker


def test_without_mosquitto_an_in_process_broker_carries_messages(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(broker, "mosquitto_running", lambda: False)
    with broker.local_broker() as url:
        assert url != "mqtt://127.0.0.1:1883"
        port = int(url.rsplit(":", 1)[1])
        got, arrived = [], threading.Event()
        listener = paho.Client(CallbackAPIVersion.VERSION2)
        listener.on_message = lambda c, u, m: (got.append(m.payload), arrived.set())
        listener.connect("127.0.0.1", port)
        listener.subscribe("t/#", qos=1)
        listener.loop_start()
        sender = paho.Client(CallbackAPIVersion.VERSION2)
        sender.connect("127.0.0.1", port)
        sender.loop_start()
        for _ in range(50):  # until the subscription is in place
            sender.publish("t/x", b"hello", qos=1).wait_for_publish(5)
            if arrived.wait(0.1):
                break
        sender.disconnect()
        sender.loop_stop()
        listener.disconnect()
        listener.loop_stop()
    assert got and got[0] == b"hello"


def test_with_mosquitto_its_url_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(broker, "mosquitto_running", lambda: True)
    with broker.local_broker() as url:
        assert url == "mqtt://127.0.0.1:1883"
