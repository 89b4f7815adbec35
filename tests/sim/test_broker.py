"""The demo's broker: the local Mosquitto when it answers, else an in-process one."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from hedge.errors import HedgeError
from hedge.sim import broker
from hedge.sim.mqtt_publisher import TelemetryPublisher
from hedge.wire.mqtt_settings import MqttSettings


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


def test_a_missing_mosquitto_binary_is_a_clear_error(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(broker, "MOSQUITTO", str(tmp_path / "no-such-mosquitto"))
    with pytest.raises(HedgeError, match="not installed"), \
            broker.mosquitto_process(tmp_path / "b"):
        pass


def test_our_mosquitto_queues_more_than_a_stock_broker_for_an_absent_subscriber(
        tmp_path: Path) -> None:
    if not Path(broker.MOSQUITTO).exists():
        pytest.skip("the mosquitto binary is not installed")
    with broker.mosquitto_process(tmp_path / "b") as port:
        away = paho.Client(CallbackAPIVersion.VERSION2, client_id="away", clean_session=False)
        subscribed = threading.Event()
        away.on_subscribe = lambda *args: subscribed.set()
        away.connect("127.0.0.1", port)
        away.loop_start()
        away.subscribe("t/#", qos=1)
        assert subscribed.wait(10)
        away.disconnect()
        away.loop_stop()
        sender = paho.Client(CallbackAPIVersion.VERSION2)
        sender.connect("127.0.0.1", port)
        sender.loop_start()
        for i in range(1500):  # a stock Mosquitto keeps 1,000
            last = sender.publish("t/x", str(i).encode(), qos=1)
        last.wait_for_publish(10)
        sender.disconnect()
        sender.loop_stop()
        got: list[bytes] = []
        back = paho.Client(CallbackAPIVersion.VERSION2, client_id="away", clean_session=False)
        back.on_message = lambda c, u, m: got.append(m.payload)
        back.connect("127.0.0.1", port)
        back.loop_start()
        deadline = time.monotonic() + 20
        while len(got) < 1500 and time.monotonic() < deadline:
            time.sleep(0.05)
        back.disconnect()
        back.loop_stop()
    assert [int(p) for p in got] == list(range(1500))


def test_a_publisher_the_broker_refuses_says_so(tmp_path: Path) -> None:
    if not Path(broker.MOSQUITTO).exists():
        pytest.skip("the mosquitto binary is not installed")
    with broker.mosquitto_process(tmp_path / "b", anonymous=False) as port, \
            pytest.raises(HedgeError, match=r"refused the connection \(.*\); check the URL"), \
            TelemetryPublisher(MqttSettings.parse(f"mqtt://127.0.0.1:{port}"), "t"):
        pass


def test_a_missing_mosquitto_passwd_is_a_clear_error(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    if not Path(broker.MOSQUITTO).exists():
        pytest.skip("the mosquitto binary is not installed")
    monkeypatch.setattr(broker, "MOSQUITTO_PASSWD", str(tmp_path / "no-such-mosquitto_passwd"))
    with pytest.raises(HedgeError, match="mosquitto_passwd tool is not installed"), \
            broker.mosquitto_process(tmp_path / "b", users={"edge": "secret"}):
        pass


def test_a_broker_that_cannot_start_names_its_log_which_says_why(tmp_path: Path) -> None:
    if not Path(broker.MOSQUITTO).exists():
        pytest.skip("the mosquitto binary is not installed")
    missing = tmp_path / "no-such.pem"
    tls = broker.BrokerTls(missing, missing, missing)
    with pytest.raises(HedgeError, match=r"did not start .*mosquitto\.log"), \
            broker.mosquitto_process(tmp_path / "b", tls=tls):
        pass
    assert str(missing) in (tmp_path / "b" / "mosquitto.log").read_text()
