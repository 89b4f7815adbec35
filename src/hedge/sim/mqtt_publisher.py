"""The simulated machines' telemetry over MQTT, in a unified-namespace layout.

Topic: `<prefix>/<machine>/telemetry` (e.g. `factory/plant-3/milling/mill-1/telemetry`), QoS 1,
one message per cycle:

    {"machine": "mill-1", "cycle": 17, "timestamp": "2026-11-23T09:00:00.123456+00:00",
     "values": {"Torque": 41.2, "RotationalSpeed": 1502.0, ...},
     "units": {"Torque": "N·m", "RotationalSpeed": "r/min", ...}}

The timestamp (UTC, microseconds) grows strictly per machine within a run, and across runs as
long as the wall clock does not step back: subscribers use it to recognise a redelivered
message.
"""

from __future__ import annotations

import json
import threading
from datetime import datetime
from types import TracebackType
from typing import Any

import paho.mqtt.client as paho

from hedge.errors import HedgeError
from hedge.sim.telemetry import Sample, Variable
from hedge.wire.mqtt_settings import MqttSettings

__all__ = ["TelemetryPublisher", "telemetry_payload"]


def telemetry_payload(sample: Sample, timestamp: datetime,
                      variables: tuple[Variable, ...]) -> bytes:
    units = {v.name: v.unit.symbol for v in variables if v.unit is not None}
    return json.dumps({"machine": sample.machine, "cycle": sample.cycle,
                       "timestamp": timestamp.isoformat(timespec="microseconds"),
                       "values": sample.values, "units": units}).encode()


class TelemetryPublisher:
    """Publishes samples to `<prefix>/<machine>/telemetry` (QoS 1); a context manager that
    connects, and on exit waits until the broker acknowledged every message."""

    def __init__(self, settings: MqttSettings, prefix: str = "factory/sim",
                 client_id: str = "") -> None:
        if not prefix or any(c in prefix for c in "+#") or prefix.endswith("/"):
            raise HedgeError(f"topic prefix {prefix!r} must be a topic without wildcards or a "
                             "trailing '/'")
        self.settings, self.prefix = settings, prefix
        self._client = settings.client(client_id)
        self._answered = threading.Event()  # the broker's CONNACK, accepting or refusing
        self._refused: str | None = None
        self._client.on_connect = self._on_connect
        self._last: paho.MQTTMessageInfo | None = None

    def _on_connect(self, client: paho.Client, userdata: Any, flags: Any, reason: Any,
                    properties: Any) -> None:
        self._refused = str(reason) if reason.is_failure else None
        self._answered.set()

    def __enter__(self) -> TelemetryPublisher:
        self._client.max_inflight_messages_set(1000)  # 20 (paho's default) caps the rate
        try:
            self._client.connect(self.settings.host, self.settings.port, keepalive=30)
        except OSError as exc:  # refused, unreachable, or a TLS handshake that failed
            raise HedgeError(f"cannot connect to the MQTT broker at {self.settings.display}: "
                             f"{exc}; check the URL, that the broker runs, and for mqtts:// "
                             "the CA file and the client certificate") from exc
        self._client.loop_start()
        if not self._answered.wait(10) or self._refused is not None:
            self._client.loop_stop()
            answer = (f"refused the connection ({self._refused})" if self._answered.is_set()
                      else "did not answer within 10 s")
            raise HedgeError(f"the MQTT broker at {self.settings.display} {answer}; check the "
                             "URL and credentials")
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._last is not None and self._client.is_connected():
            self._last.wait_for_publish(10)
        self._client.disconnect()
        self._client.loop_stop()

    def topic(self, machine: str) -> str:
        return f"{self.prefix}/{machine}/telemetry"

    def publish(self, sample: Sample, timestamp: datetime,
                variables: tuple[Variable, ...]) -> None:
        self._last = self._client.publish(self.topic(sample.machine),
                                          telemetry_payload(sample, timestamp, variables), qos=1)
