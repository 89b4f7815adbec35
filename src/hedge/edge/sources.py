"""The edge configuration's `[source]` and `[alerts]` sections: where rows come from and where
alerts go, checked against the schema at start.

    [source]                                   # files (the default)
    kind = "folder"
    folder = "incoming"
    settle_seconds = 2.0

    [source]                                   # one machine over OPC UA
    kind = "opcua"
    endpoint = "opc.tcp://10.0.0.5:4840/hedge/sim/"
    machine = "mill-1"
    cycle_node = "ns=2;s=mill-1.Cycle"         # written last in each cycle
    security = "Basic256Sha256"                # optional, with the three files below
    certificate = "edge-cert.der"
    private_key = "edge-key.pem"
    server_certificate = "server-cert.der"     # optional: pin the server
    application_uri = "urn:acme:hedge-edge"    # optional: the URI in the client certificate
    [source.nodes]                             # node id -> schema column
    "ns=2;s=mill-1.Torque" = "Torque [Nm]"

    [source]                                   # machines over MQTT
    kind = "mqtt"
    broker = "mqtt://127.0.0.1:1883"           # or mqtts://... (TLS)
    client_id = "hedge-plant-3"                # the persistent session
    topics = ["factory/plant-3/milling/+/telemetry"]
    username = "edge"                          # optional; password_file, ca_file,
    password_file = "mqtt-password"            # cert_file, key_file likewise
    [source.fields]                            # value name -> schema column
    Torque = "Torque [Nm]"

    [alerts]                                   # optional
    topic = "factory/plant-3/milling/{machine}/alerts"   # MQTT (needs an MQTT source)
    risk_node = "ns=2;s=mill-1.FailureRisk"    # OPC UA (needs an OPC UA source)
    alert_node = "ns=2;s=mill-1.Alert"
    threshold = 0.5                            # used when the model's package names none
    hysteresis = 0.1

Every schema feature that is not a rolling-window feature, and the label, must be mapped; a
mapping to a column the schema does not know, two mappings to one column, an unreadable node
id or topic filter are refused with the entry named.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from asyncua import ua

from hedge.data import Schema
from hedge.edge.alerts import MqttAlertSink, OpcUaAlertSink
from hedge.edge.connectors import Connector, FolderConnector
from hedge.edge.mqtt import MqttConnector
from hedge.edge.opcua import OpcUaConnector, OpcUaSecurity
from hedge.edge.sinks import Sink
from hedge.errors import PolicyError, SchemaError
from hedge.wire.mqtt_settings import MqttSettings
from hedge.wire.package import AlertPolicy

__all__ = ["AlertSettings", "FolderSource", "MqttSource", "OpcUaSource", "alert_sinks",
           "open_connector", "parse_alerts", "parse_source"]


@dataclass(frozen=True)
class FolderSource:
    folder: Path
    settle_seconds: float = 2.0


@dataclass(frozen=True)
class OpcUaSource:
    endpoint: str
    machine: str
    cycle_node: str
    nodes: dict[str, str]
    security: OpcUaSecurity | None = None


@dataclass(frozen=True)
class MqttSource:
    settings: MqttSettings
    client_id: str
    topics: list[str]
    fields: dict[str, str]


@dataclass(frozen=True)
class AlertSettings:
    policy: AlertPolicy = field(default_factory=AlertPolicy)  # if the package names none
    topic: str | None = None
    risk_node: str | None = None
    alert_node: str | None = None


Source = FolderSource | OpcUaSource | MqttSource


def _text(section: dict[str, Any], name: str, where: str) -> str:
    value = section.get(name)
    if not isinstance(value, str) or not value:
        raise SchemaError(f"{where}: '{name}' must be given as text")
    return value


def _node(text: str, where: str) -> str:
    try:
        return str(ua.NodeId.from_string(text).to_string())
    except Exception as exc:
        raise SchemaError(f"{where}: {text!r} is not an OPC UA node id (write e.g. "
                          f"'ns=2;s=mill-1.Torque'): {exc}") from exc


def _mapping(section: dict[str, Any], name: str, schema: Schema, where: str) -> dict[str, str]:
    mapping = section.get(name)  # input -> schema column
    if not isinstance(mapping, dict) or not mapping:
        raise SchemaError(f"{where}: [source.{name}] must map each input to a schema column")
    needed = [f.name for f in schema.measured().features]
    needed += [schema.label.name] if schema.label is not None else []
    targets = list(mapping.values())
    for key, column in mapping.items():
        if not isinstance(column, str) or column not in needed:
            raise SchemaError(f"{where}: {key!r} maps to {column!r}, which is not an input "
                              f"column of the schema ({', '.join(needed)})")
    doubled = sorted({c for c in targets if targets.count(c) > 1})
    missing = [c for c in needed if c not in targets]
    if doubled or missing:
        raise SchemaError(f"{where}: every schema column needs exactly one input; "
                          f"mapped twice: {doubled or 'none'}, not mapped: {missing or 'none'}")
    return {str(k): str(v) for k, v in mapping.items()}


def _file(section: dict[str, Any], name: str, base: Path) -> Path | None:
    value = section.get(name)
    return None if value is None else base / str(value)


def parse_source(section: dict[str, Any], schema: Schema, base: Path, where: str) -> Source:
    """The `[source]` section (paths relative to `base`), checked against `schema`."""
    kind = section.get("kind", "folder")
    if kind == "folder":
        return FolderSource(base / _text(section, "folder", where),
                            float(section.get("settle_seconds", 2.0)))
    if kind == "opcua":
        nodes = _mapping(section, "nodes", schema, where)
        security = None
        if section.get("security") is not None:
            if section["security"] != "Basic256Sha256":
                raise SchemaError(f"{where}: security {section['security']!r} is not offered; "
                                  "use 'Basic256Sha256' or leave it out")
            security = OpcUaSecurity(base / _text(section, "certificate", where),
                                     base / _text(section, "private_key", where),
                                     _file(section, "server_certificate", base),
                                     section.get("application_uri"))
        return OpcUaSource(_text(section, "endpoint", where), _text(section, "machine", where),
                           _node(_text(section, "cycle_node", where), where),
                           {_node(k, where): v for k, v in nodes.items()}, security)
    if kind == "mqtt":
        password_file = _file(section, "password_file", base)
        settings = MqttSettings.parse(
            _text(section, "broker", where), username=section.get("username"),
            password=password_file.read_text().strip() if password_file else None,
            ca_file=_file(section, "ca_file", base), cert_file=_file(section, "cert_file", base),
            key_file=_file(section, "key_file", base))
        topics = section.get("topics")
        if not isinstance(topics, list) or not topics:
            raise SchemaError(f"{where}: 'topics' must list the topic filters to subscribe to")
        for topic in topics:
            levels = str(topic).split("/")
            if not topic or any(("#" in level and (level != "#" or i != len(levels) - 1))
                                or ("+" in level and level != "+")
                                for i, level in enumerate(levels)):
                raise SchemaError(f"{where}: {topic!r} is not a topic filter ('+' stands for "
                                  "a whole level, '#' only for the last)")
        return MqttSource(settings, _text(section, "client_id", where),
                          [str(t) for t in topics], _mapping(section, "fields", schema, where))
    raise SchemaError(f"{where}: source kind {kind!r} is unknown; use 'folder', 'opcua' or "
                      "'mqtt'")


def parse_alerts(section: dict[str, Any], source: Source, where: str) -> AlertSettings:
    try:
        policy = AlertPolicy(float(section.get("threshold", 0.5)),
                             float(section.get("hysteresis", 0.0)))
    except (PolicyError, TypeError, ValueError) as exc:
        raise SchemaError(f"{where}: [alerts] {exc}") from exc
    topic, risk, alert = section.get("topic"), section.get("risk_node"), section.get("alert_node")
    if topic is not None and not isinstance(source, MqttSource):
        raise SchemaError(f"{where}: alerts to an MQTT topic need an MQTT source")
    if (risk or alert) and not isinstance(source, OpcUaSource):
        raise SchemaError(f"{where}: alerts to OPC UA nodes need an OPC UA source")
    return AlertSettings(policy, None if topic is None else str(topic),
                         None if risk is None else _node(str(risk), where),
                         None if alert is None else _node(str(alert), where))


def open_connector(source: Source, data_dir: Path) -> Connector:
    """The connector for `source` (not started: the agent starts it); rows that are refused
    or malformed are kept in DATA_DIR/rejected.jsonl."""
    rejected = data_dir / "rejected.jsonl"
    if isinstance(source, FolderSource):
        return FolderConnector(source.folder, source.settle_seconds)
    if isinstance(source, OpcUaSource):
        return OpcUaConnector(source.endpoint, source.machine, source.nodes, source.cycle_node,
                              rejected, security=source.security)
    return MqttConnector(source.settings, source.client_id, source.topics, source.fields,
                         rejected)


def alert_sinks(alerts: AlertSettings, connector: Connector) -> list[Sink]:
    """The sinks that send predictions back to the machines, as `alerts` names them."""
    sinks: list[Sink] = []
    if alerts.topic is not None and isinstance(connector, MqttConnector):
        sinks.append(MqttAlertSink(connector, alerts.topic))
    if (alerts.risk_node or alerts.alert_node) and isinstance(connector, OpcUaConnector):
        sinks.append(OpcUaAlertSink(connector, alerts.risk_node, alerts.alert_node))
    return sinks
