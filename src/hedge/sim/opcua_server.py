"""The simulated machines as an OPC UA server (asyncua).

Address space, browsable by any standard OPC UA client: `Objects/Machines/<machine>/<Variable>`
with display names such as `Torque`, `RotationalSpeed`, `ToolWear`, and an `EngineeringUnits`
property (UN/CEFACT) on every variable that has a unit. Node ids are strings in the namespace
`urn:hedge:sim` (index 2): `ns=2;s=<machine>.<Variable>`.

Per cycle every variable is written with the same source timestamp, and `Cycle` (a counter)
last, so a client can assemble whole rows. Each machine also has two variables the edge writes
back: `FailureRisk` (Double, the latest predicted probability) and `Alert` (Boolean).

Security: without a certificate the endpoint accepts unsecured sessions (loopback demos);
with `certificate` and `private_key` it offers only Basic256Sha256 (sign and encrypt).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any

from asyncua import Node, Server, ua

from hedge.sim.telemetry import Sample, Source, Variable

__all__ = ["NAMESPACE", "MachineServer", "endpoint", "node_id"]

NAMESPACE = "urn:hedge:sim"
_UNITS_NAMESPACE = "http://www.opcfoundation.org/UA/units/un/cefact"
_TYPES = {"float": ua.VariantType.Double, "int": ua.VariantType.Int64,
          "str": ua.VariantType.String, "bool": ua.VariantType.Boolean}
_INITIAL: dict[str, Any] = {"float": 0.0, "int": 0, "str": "", "bool": False}
WRITE_BACK = (Variable("FailureRisk", "FailureRisk", "float"), Variable("Alert", "Alert", "bool"))


def node_id(machine: str, variable: str) -> str:
    """The node id of a machine's variable, as clients write it."""
    return f"ns=2;s={machine}.{variable}"


def endpoint(port: int, host: str = "127.0.0.1") -> str:
    """The simulator's OPC UA endpoint at `host`:`port`."""
    return f"opc.tcp://{host}:{port}/hedge/sim/"


class MachineServer:
    """Serves the variables of `sources` (one object each) at `opc.tcp://host:port/hedge/sim/`;
    an async context manager."""

    def __init__(self, sources: list[Source], host: str = "127.0.0.1", port: int = 4840,
                 certificate: Path | None = None, private_key: Path | None = None) -> None:
        self.sources = sources
        self.certificate, self.private_key = certificate, private_key
        self.endpoint = endpoint(port, host)
        self._server = Server()
        #: per machine: (node, name, variant type) of each variable in publishing order,
        #: Cycle last
        self._writes: dict[str, list[tuple[ua.NodeId, str, ua.VariantType]]] = {}

    async def __aenter__(self) -> MachineServer:
        await self._server.init()
        self._server.set_endpoint(self.endpoint)
        self._server.set_server_name("hedge machine simulator")
        if self.certificate is not None and self.private_key is not None:
            await self._server.load_certificate(str(self.certificate))
            await self._server.load_private_key(str(self.private_key))
            self._server.set_security_policy(
                [ua.SecurityPolicyType.Basic256Sha256_SignAndEncrypt])
        else:
            self._server.set_security_policy([ua.SecurityPolicyType.NoSecurity])
        idx = await self._server.register_namespace(NAMESPACE)
        machines = await self._server.nodes.objects.add_folder(
            ua.NodeId("Machines", idx), ua.QualifiedName("Machines", idx))
        for source in self.sources:
            await self._add_machine(machines, idx, source)
        await self._server.start()
        return self

    async def __aexit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self._server.stop()

    async def _add_machine(self, parent: Node, idx: int, source: Source) -> None:
        name = source.machine
        obj = await parent.add_object(ua.NodeId(name, idx), ua.QualifiedName(name, idx))
        nodes: dict[str, ua.NodeId] = {}
        cycle = Variable("Cycle", "Cycle", "int")
        for variable in (*source.variables, cycle, *WRITE_BACK):
            node = await obj.add_variable(
                ua.NodeId(f"{name}.{variable.name}", idx),
                ua.QualifiedName(variable.name, idx),
                ua.Variant(_INITIAL[variable.kind], _TYPES[variable.kind]))
            if variable.unit is not None:
                unit = variable.unit
                await node.add_property(
                    ua.NodeId(f"{name}.{variable.name}.EngineeringUnits", idx),
                    ua.QualifiedName("EngineeringUnits", 0),
                    ua.EUInformation(NamespaceUri=_UNITS_NAMESPACE, UnitId=unit.unit_id,
                                     DisplayName=ua.LocalizedText(unit.symbol),
                                     Description=ua.LocalizedText(unit.description)))
            if variable in WRITE_BACK:
                await node.set_writable()
            nodes[variable.name] = node.nodeid
        self._writes[name] = [(nodes[v.name], v.name, _TYPES[v.kind])
                              for v in (*source.variables, cycle)]

    async def write(self, sample: Sample, timestamp: datetime) -> None:
        """Publish one cycle: every variable stamped `timestamp`, `Cycle` last."""
        values = {**sample.values, "Cycle": sample.cycle}
        for node, name, kind in self._writes[sample.machine]:
            await self._server.write_attribute_value(node, ua.DataValue(
                ua.Variant(values[name], kind), SourceTimestamp=timestamp,
                ServerTimestamp=timestamp))
