"""The edge's MQTT connector (paho-mqtt): subscribes to telemetry topics with QoS 1 in a
persistent session and turns each message into a row.

A message is acknowledged (PUBACK) only after its row is committed to the edge's buffer, so
the broker redelivers anything the edge received but had not made durable (a crash, a lost
connection, a broker restart with persistence). Redelivered rows are recognised by their
machine and timestamp and dropped by the agent. paho reconnects by itself; acknowledgements
of messages received over an earlier connection are not sent (the broker redelivers those),
so a stale packet id can never acknowledge another message: a message's connection is
checked and its PUBACK queued under one lock, and losing the connection moves to the next
connection under the same lock before paho reconnects (which discards PUBACKs not yet sent).
`connected` is set once the broker has acknowledged the subscriptions (from then on, nothing
published to the topics is missed).

Payload (as `hedge sim machine --mqtt` publishes it):
`{"machine": "mill-1", "timestamp": "<ISO 8601 with zone>", "values": {"Torque": 41.2, ...}}`;
`fields` maps value names to the schema's columns. A payload that is not JSON, lacks the
machine, the timestamp or a mapped value, or has a value that is not a number, a string or a
boolean is malformed: counted, logged and kept in the rejected log, never a crash.
"""

from __future__ import annotations

import json
import logging
import math
import threading
from datetime import datetime
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho

from hedge.edge.streams import StreamConnector, StreamQueue, micros, milestone
from hedge.errors import HedgeError
from hedge.wire.mqtt_settings import MqttSettings

__all__ = ["MqttConnector", "parse_telemetry"]

log = logging.getLogger("hedge.edge")


def _no_constant(token: str) -> float:
    """`json.loads` hook: a telemetry message holds no NaN, Infinity or -Infinity."""
    raise ValueError(f"{token} is not a finite number")


def parse_telemetry(payload: bytes, fields: dict[str, str]) -> tuple[str, int, dict[str, Any]]:
    """(machine, timestamp in microseconds, row) of a telemetry message; `ValueError` with the
    reason if it is malformed."""
    try:
        body = json.loads(payload, parse_constant=_no_constant)
    except RecursionError:
        raise ValueError("nested too deeply to be a telemetry message") from None
    except ValueError as exc:  # not UTF-8, not JSON, NaN or Infinity, a number too long
        raise ValueError(f"not JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise ValueError("not a JSON object")
    machine, stamp, values = body.get("machine"), body.get("timestamp"), body.get("values")
    if not isinstance(machine, str) or not machine:
        raise ValueError("no 'machine' name")
    if not isinstance(stamp, str):
        raise ValueError("no 'timestamp'")
    when = datetime.fromisoformat(stamp)  # ValueError names the bad text
    if when.tzinfo is None:
        raise ValueError(f"timestamp {stamp!r} has no time zone")
    if not isinstance(values, dict):
        raise ValueError("no 'values' object")
    row: dict[str, Any] = {}
    for name, column in fields.items():
        value = values.get(name)
        if value is None:
            raise ValueError(f"no value {name!r}")
        if not isinstance(value, int | float | str | bool):
            raise ValueError(f"value {name!r} is {type(value).__name__}, not a number, text "
                             "or boolean")
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"value {name!r} is {value}, not a finite number")
        row[column] = value
    return machine, micros(when), row


class MqttConnector(StreamConnector):
    """Rows from `topics` (filters, wildcards allowed) at the broker of `settings`, in the
    persistent session `client_id`."""

    def __init__(self, settings: MqttSettings, client_id: str, topics: list[str],
                 fields: dict[str, str], rejected_log: Path) -> None:
        if not client_id:
            raise HedgeError("a persistent MQTT session needs a client id")
        self.settings, self.topics, self.fields = settings, topics, fields
        self.queue = StreamQueue(f"mqtt:{client_id}", rejected_log, acknowledge=self._ack)
        self.connected = threading.Event()
        self._generation = 0  # the connection messages arrive on; +1 when it is lost
        self._generation_lock = threading.Lock()  # check-and-ack against losing the connection
        self._connected_once = False
        self._client = settings.client(client_id, persistent=True, manual_ack=True)
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect
        self._client.on_subscribe = self._on_subscribe
        self._client.on_message = self._on_message
        self._client.on_connect_fail = self._on_connect_fail
        self._client.reconnect_delay_set(1, 10)
        self._failures = 0  # connection attempts that failed since the last success

    def start(self) -> None:
        self._client.connect_async(self.settings.host, self.settings.port, keepalive=15)
        self._client.loop_start()

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()

    def publish(self, topic: str, payload: bytes) -> None:
        """Publish (QoS 1) over the same connection (alerts back to the machines)."""
        self._client.publish(topic, payload, qos=1)

    # -- paho's callbacks (its network thread) ------------------------------------------

    def _on_connect(self, client: paho.Client, userdata: Any, flags: Any, reason: Any,
                    properties: Any) -> None:
        if reason.is_failure:
            log.error("MQTT broker %s refused the connection: %s", self.settings.display,
                      reason)
            return
        self._failures = 0
        if self._connected_once:
            self.queue.stats.reconnects += 1
        self._connected_once = True
        client.subscribe([(topic, 1) for topic in self.topics])  # `connected` on its SUBACK

    def _on_connect_fail(self, client: paho.Client, userdata: Any) -> None:
        # no CONNACK: the broker is unreachable, or the TLS handshake failed (paho keeps the
        # reason to itself); logged now and then, as it retries for ever
        self._failures += 1
        self.queue.stats.connect_failures += 1
        if milestone(self._failures):
            log.warning("cannot connect to the MQTT broker %s (%d attempts so far); check that "
                        "it runs and, for mqtts://, its CA file and our certificate; retrying",
                        self.settings.display, self._failures)

    def _on_subscribe(self, client: paho.Client, userdata: Any, mid: int, reasons: Any,
                      properties: Any) -> None:
        refused = [str(r) for r in reasons if r.is_failure]
        if refused:
            log.error("MQTT broker %s refused the subscription to %s: %s",
                      self.settings.display, self.topics, ", ".join(refused))
            return
        self.connected.set()

    def _on_disconnect(self, client: paho.Client, userdata: Any, flags: Any, reason: Any,
                       properties: Any) -> None:
        with self._generation_lock:
            self._generation += 1
        self.connected.clear()
        if reason.is_failure:
            log.warning("MQTT connection to %s lost (%s); reconnecting", self.settings.display,
                        reason)

    def _on_message(self, client: paho.Client, userdata: Any,
                    message: paho.MQTTMessage) -> None:
        token = (self._generation, message.mid, message.qos) if message.qos else None
        try:
            machine, stamp, row = parse_telemetry(bytes(message.payload), self.fields)
        except ValueError as exc:
            self.queue.malformed(bytes(message.payload), str(exc), message.topic, token)
            return
        self.queue.put((machine, stamp), row, token)

    def _ack(self, tokens: list[Any]) -> None:
        # paho's `ack` only queues the PUBACK; the paho lock it takes briefly is never held
        # while paho calls us, so this cannot deadlock with `_on_disconnect`
        with self._generation_lock:
            for generation, mid, qos in tokens:
                if generation == self._generation:  # older ones: the broker redelivers them
                    self._client.ack(mid, qos)
