"""The edge configuration's `[source]` and `[alerts]` sections for a simulated machine (as
`hedge.edge.sources` reads them): every variable mapped to the dataset column it carries."""

from __future__ import annotations

from hedge.sim.opcua_server import node_id
from hedge.sim.telemetry import Variable

__all__ = ["mqtt_sections", "opcua_sections"]


def opcua_sections(endpoint: str, machine: str, variables: tuple[Variable, ...]) -> str:
    """The machine's OPC UA variables as the source; alerts to its FailureRisk and Alert."""
    nodes = "".join(f'"{node_id(machine, v.name)}" = "{v.column}"\n' for v in variables)
    return (f'[source]\nkind = "opcua"\nendpoint = "{endpoint}"\nmachine = "{machine}"\n'
            f'cycle_node = "{node_id(machine, "Cycle")}"\n[source.nodes]\n{nodes}'
            f'[alerts]\nrisk_node = "{node_id(machine, "FailureRisk")}"\n'
            f'alert_node = "{node_id(machine, "Alert")}"\n')


def mqtt_sections(broker: str, client_id: str, prefix: str,
                  variables: tuple[Variable, ...]) -> str:
    """Telemetry under `prefix` (every machine) as the source; alerts to
    `prefix/<machine>/alerts`."""
    fields = "".join(f'{v.name} = "{v.column}"\n' for v in variables)
    return (f'[source]\nkind = "mqtt"\nbroker = "{broker}"\nclient_id = "{client_id}"\n'
            f'topics = ["{prefix}/+/telemetry"]\n[source.fields]\n{fields}'
            f'[alerts]\ntopic = "{prefix}/{{machine}}/alerts"\n')
