"""The [source] and [alerts] sections: mappings checked against the schema at start."""

from __future__ import annotations

from pathlib import Path

import pytest

from hedge.edge.sources import (
    FolderSource,
    MqttSource,
    OpcUaSource,
    parse_alerts,
    parse_source,
)
from hedge.errors import HedgeError, SchemaError
from hedge.sim.opcua_server import node_id
from tests.edge.machines import VARIABLES, ai4i_schema

SCHEMA = ai4i_schema()
NODES = {node_id("mill-1", v.name): v.column for v in VARIABLES}
FIELDS = {v.name: v.column for v in VARIABLES}


def opcua(**changes: object) -> dict[str, object]:
    return {"kind": "opcua", "endpoint": "opc.tcp://127.0.0.1:4840/hedge/sim/",
            "machine": "mill-1", "cycle_node": node_id("mill-1", "Cycle"), "nodes": NODES,
            **changes}


def mqtt(**changes: object) -> dict[str, object]:
    return {"kind": "mqtt", "broker": "mqtt://edge:secret@127.0.0.1", "client_id": "e1",
            "topics": ["factory/+/telemetry"], "fields": FIELDS, **changes}


def test_each_kind_parses() -> None:
    folder = parse_source({"folder": "in", "settle_seconds": 0}, SCHEMA, Path("/x"), "t")
    assert folder == FolderSource(Path("/x/in"), 0.0)
    source = parse_source(opcua(), SCHEMA, Path("/x"), "t")
    assert isinstance(source, OpcUaSource) and source.nodes == NODES
    broker = parse_source(mqtt(), SCHEMA, Path("/x"), "t")
    assert isinstance(broker, MqttSource) and broker.settings.username == "edge"
    assert broker.settings.password == "secret" and broker.settings.port == 1883


@pytest.mark.parametrize(("section", "words"), [
    (opcua(nodes={**NODES, "ns=2;s=mill-1.Extra": "Spindle load"}),
     r"'ns=2;s=mill-1\.Extra' maps to 'Spindle load', which is not an input column"),
    (opcua(nodes={k: v for k, v in NODES.items() if v != "Torque [Nm]"}),
     r"not mapped: \['Torque \[Nm\]'\]"),
    (opcua(nodes={**NODES, "ns=2;s=x": "Torque [Nm]"}), r"mapped twice: \['Torque \[Nm\]'\]"),
    (opcua(cycle_node="ns=two;s=x"), "'ns=two;s=x' is not an OPC UA node id"),
    (opcua(security="Basic128Rsa15"), "security 'Basic128Rsa15' is not offered"),
    (opcua(endpoint=""), "'endpoint'"),
    (mqtt(topics=["a/#/b"]), "'a/#/b' is not a topic filter"),
    (mqtt(topics=[]), "'topics'"),
    (mqtt(client_id=""), "'client_id'"),
    (mqtt(fields={}), "must map"),
    ({"kind": "modbus"}, "source kind 'modbus' is unknown"),
])
def test_bad_sections_are_refused_with_the_entry_named(section: dict[str, object],
                                                        words: str) -> None:
    with pytest.raises(SchemaError, match=words) as refused:  # the entry, by name
        parse_source(section, SCHEMA, Path("/x"), "edge.toml")
    assert str(refused.value).startswith("edge.toml: ")  # and the file


def test_bad_broker_urls_are_refused() -> None:
    with pytest.raises(HedgeError, match="not a broker URL"):
        parse_source(mqtt(broker="http://127.0.0.1"), SCHEMA, Path("/x"), "t")
    with pytest.raises(HedgeError, match="not TLS"):
        parse_source(mqtt(ca_file="ca.pem"), SCHEMA, Path("/x"), "t")


def test_alerts_need_a_matching_source_and_a_sound_threshold() -> None:
    broker = parse_source(mqtt(), SCHEMA, Path("/x"), "t")
    machine = parse_source(opcua(), SCHEMA, Path("/x"), "t")
    alerts = parse_alerts({"topic": "f/{machine}/alerts", "threshold": 0.7,
                           "hysteresis": 0.1}, broker, "t")
    assert alerts.topic == "f/{machine}/alerts" and alerts.policy.threshold == 0.7
    with pytest.raises(SchemaError, match="MQTT source"):
        parse_alerts({"topic": "x"}, machine, "t")
    with pytest.raises(SchemaError, match="OPC UA source"):
        parse_alerts({"risk_node": node_id("mill-1", "FailureRisk")}, broker, "t")
    with pytest.raises(SchemaError, match="threshold"):
        parse_alerts({"threshold": 0.5, "hysteresis": 0.6}, broker, "t")


def test_the_sections_written_for_a_simulated_machine_parse() -> None:
    import tomllib

    from hedge.sim.edge_config import mqtt_sections, opcua_sections

    for text in (opcua_sections("opc.tcp://127.0.0.1:4840/hedge/sim/", "mill-1", VARIABLES),
                 mqtt_sections("mqtt://127.0.0.1:1883", "e1", "factory/p1", VARIABLES)):
        raw = tomllib.loads(text)
        source = parse_source(raw["source"], SCHEMA, Path("/x"), "t")
        alerts = parse_alerts(raw["alerts"], source, "t")
        assert alerts.topic == "factory/p1/{machine}/alerts" or alerts.risk_node == node_id(
            "mill-1", "FailureRisk")
