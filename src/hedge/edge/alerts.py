"""Alerts: a per-machine on/off state with hysteresis, and sinks that send predictions back to
the machines.

`AlertTracker` turns an alert on when a row's predicted probability reaches the threshold and
off only when it falls below threshold - hysteresis, per stream (machine), so a probability
hovering at the line does not make the alert flap.

`MqttAlertSink` publishes to a topic per machine (QoS 1) whenever the alert state changes, and
the latest prediction of each intake. `OpcUaAlertSink` writes the machine's latest probability
(stamped with the source time of the reading it belongs to) and alert state to its nodes. Both
log and count failures (`failures`) instead of raising: every prediction is also in the
agent's JSON Lines file.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from datetime import datetime

from asyncua import ua

from hedge.edge.mqtt import MqttConnector
from hedge.edge.opcua import OpcUaConnector
from hedge.edge.sinks import Prediction
from hedge.edge.streams import from_micros
from hedge.errors import HedgeError
from hedge.wire.package import AlertPolicy

__all__ = ["AlertTracker", "MqttAlertSink", "OpcUaAlertSink"]

log = logging.getLogger("hedge.edge")


class AlertTracker:
    def __init__(self) -> None:
        self._on: dict[str, bool] = {}

    def update(self, stream: str, probability: float, policy: AlertPolicy) -> bool:
        """The stream's alert state after a row with `probability`."""
        on = self._on.get(stream, False)
        if on:
            on = probability >= policy.threshold - policy.hysteresis
        else:
            on = probability >= policy.threshold
        self._on[stream] = on
        return on


def _latest(predictions: Sequence[Prediction]) -> dict[str, Prediction]:
    latest: dict[str, Prediction] = {}
    for p in predictions:
        latest[p.stream or p.site] = p
    return latest


class MqttAlertSink:
    """Publishes `{"machine", "probability", "alert", "model_version", "timestamp"}` to
    `topic` (with `{machine}` replaced)."""

    def __init__(self, connector: MqttConnector, topic: str) -> None:
        self.connector, self.topic, self.failures = connector, topic, 0
        self._state: dict[str, bool] = {}

    def write(self, predictions: Sequence[Prediction]) -> None:
        sent: set[int] = set()
        for p in predictions:
            machine = p.stream or p.site
            if self._state.get(machine) != p.alert:
                self._state[machine] = p.alert
                self._publish(p)
                sent.add(id(p))
        for p in _latest(predictions).values():
            if id(p) not in sent:
                self._publish(p)

    def _publish(self, p: Prediction) -> None:
        machine = p.stream or p.site
        stamp = None if p.time is None else from_micros(p.time).isoformat()
        payload = {"machine": machine, "probability": p.probability, "alert": p.alert,
                   "model_version": p.model_version, "timestamp": stamp}
        try:
            self.connector.publish(self.topic.format(machine=machine),
                                   json.dumps(payload).encode())
        except (ValueError, OSError) as exc:
            self.failures += 1
            log.warning("alert to MQTT for %s not sent: %s", machine, exc)


class OpcUaAlertSink:
    """Writes the latest probability (Double) to `risk_node` and the alert state (Boolean) to
    `alert_node` of the connector's machine."""

    def __init__(self, connector: OpcUaConnector, risk_node: str | None,
                 alert_node: str | None) -> None:
        self.connector, self.risk_node, self.alert_node = connector, risk_node, alert_node
        self.failures = 0

    def write(self, predictions: Sequence[Prediction]) -> None:
        if not predictions:
            return
        last = predictions[-1]
        source_time = None if last.time is None else from_micros(last.time)
        values: dict[str, tuple[object, ua.VariantType, datetime | None]] = {}
        if self.risk_node:
            values[self.risk_node] = (last.probability, ua.VariantType.Double, source_time)
        if self.alert_node:
            values[self.alert_node] = (last.alert, ua.VariantType.Boolean, source_time)
        try:
            self.connector.write_back(values)
        except HedgeError as exc:
            self.failures += 1
            log.warning("alert to %s not written: %s", self.connector.endpoint, exc)
