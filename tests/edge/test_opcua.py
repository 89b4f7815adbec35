"""The OPC UA connector against a real asyncua server on loopback: rows arrive complete and in
order, the connector reconnects after the server restarts, and alerts reach the machine."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from asyncua import Client
from asyncua.crypto.cert_gen import setup_self_signed_certificate
from cryptography.x509.oid import ExtendedKeyUsageOID

from hedge.edge.alerts import OpcUaAlertSink
from hedge.edge.opcua import OpcUaConnector, OpcUaSecurity
from hedge.edge.sinks import Prediction
from hedge.services import free_port
from hedge.sim.opcua_server import node_id
from hedge.sim.runner import SimulatorThread
from hedge.sim.telemetry import ReplaySource
from tests.edge.machines import VARIABLES, recorded

NODES = {node_id("mill-1", v.name): v.column for v in VARIABLES}
COLUMNS = [v.column for v in VARIABLES]


def endpoint(port: int) -> str:
    return f"opc.tcp://127.0.0.1:{port}/hedge/sim/"


def replaying(rows: pd.DataFrame, rate: float, port: int) -> SimulatorThread:
    """A simulated machine `mill-1` that replays `rows` over OPC UA on `port`."""
    return SimulatorThread([ReplaySource("mill-1", rows, VARIABLES)], rate=rate,
                           opcua_port=port)


def unstarted(port: int, tmp_path: Path,
              security: OpcUaSecurity | None = None) -> OpcUaConnector:
    return OpcUaConnector(endpoint(port), "mill-1", NODES, node_id("mill-1", "Cycle"),
                          tmp_path / "rejected.jsonl", security=security)


def connector(port: int, tmp_path: Path) -> OpcUaConnector:
    c = unstarted(port, tmp_path)
    c.start()
    assert c.connected.wait(15)
    return c


def receive(c: OpcUaConnector, count: int, timeout: float = 30) -> tuple[list[dict], list]:
    rows: list[dict] = []
    keys: list = []
    deadline = time.monotonic() + timeout
    while len(rows) < count and time.monotonic() < deadline:
        if c.wait(0.2):
            intake = c.queue.take()
            assert intake is not None
            rows += intake.rows
            keys += intake.keys
            intake.acknowledge()
    return rows, keys


def test_rows_arrive_complete_and_in_order(tmp_path: Path) -> None:
    expected = recorded(1500)
    port = free_port()
    with replaying(expected, 1500, port) as sim:
        c = connector(port, tmp_path)
        sim.start_publishing()
        rows, keys = receive(c, len(expected))
        c.close()
    pd.testing.assert_frame_equal(pd.DataFrame(rows)[COLUMNS], expected[COLUMNS],
                                  check_dtype=False)
    positions = [k[1] for k in keys]
    assert positions == sorted(positions) and len(set(positions)) == len(positions)
    assert {k[0] for k in keys} == {"mill-1"}
    assert c.incomplete == 0 and c.queue.stats.dropped == 0


def test_the_connector_reconnects_after_the_server_restarts(tmp_path: Path) -> None:
    first, second = recorded(300, seed=1), recorded(300, seed=2)
    port = free_port()
    with replaying(first, 1000, port) as sim:
        c = connector(port, tmp_path)
        sim.start_publishing()
        before, _ = receive(c, len(first))
    assert len(before) == len(first)
    deadline = time.monotonic() + 15
    while c.connected.is_set() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not c.connected.is_set()  # the loss was noticed
    with replaying(second, 1000, port) as sim:
        assert c.connected.wait(30), "no new connection after the server came back"
        sim.start_publishing()
        after, _ = receive(c, len(second))
        c.close()
    assert c.queue.stats.reconnects >= 1
    pd.testing.assert_frame_equal(pd.DataFrame(after)[COLUMNS], second[COLUMNS],
                                  check_dtype=False)


def test_an_alert_is_written_to_the_machines_nodes(tmp_path: Path) -> None:
    port = free_port()
    with replaying(recorded(5), 100, port):
        c = connector(port, tmp_path)
        sink = OpcUaAlertSink(c, node_id("mill-1", "FailureRisk"), node_id("mill-1", "Alert"))
        sink.write([Prediction("plant-1", "s", 0, 1, 0.2, False, "mill-1", 1),
                    Prediction("plant-1", "s", 1, 1, 0.93, True, "mill-1", 1_700_000_000_000_000)])

        async def read() -> tuple[float, bool, object]:
            async with Client(endpoint(port)) as client:
                risk = await client.get_node(node_id("mill-1", "FailureRisk")).read_data_value()
                alert = await client.get_node(node_id("mill-1", "Alert")).read_value()
                return risk.Value.Value, alert, risk.SourceTimestamp

        risk, alert, stamp = asyncio.run(read())
        c.close()
    assert risk == pytest.approx(0.93) and alert is True
    assert stamp is not None and stamp.year == 2023  # the reading's time, not the write's
    assert sink.failures == 0


def test_writing_without_a_connection_is_counted_not_raised(tmp_path: Path) -> None:
    c = unstarted(free_port(), tmp_path)
    sink = OpcUaAlertSink(c, node_id("mill-1", "FailureRisk"), None)
    sink.write([Prediction("plant-1", "s", 0, 1, 0.9, True, "mill-1", 1)])
    assert sink.failures == 1


def test_basic256sha256_sessions_work_and_unsecured_ones_are_refused(tmp_path: Path) -> None:
    async def certificates() -> None:
        await setup_self_signed_certificate(
            tmp_path / "server.pem", tmp_path / "server.der", "urn:freeopcua:python:server",
            "127.0.0.1", [ExtendedKeyUsageOID.SERVER_AUTH], {"commonName": "machine"})
        await setup_self_signed_certificate(
            tmp_path / "edge.pem", tmp_path / "edge.der", "urn:hedge:edge", "127.0.0.1",
            [ExtendedKeyUsageOID.CLIENT_AUTH], {"commonName": "edge"})

    asyncio.run(certificates())
    port = free_port()
    machine = subprocess.Popen(
        [sys.executable, "-m", "hedge.cli.main", "sim", "machine", "--opcua-port", str(port),
         "--speedup", "100", "--certificate", str(tmp_path / "server.der"),
         "--private-key", str(tmp_path / "server.pem")],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        secured = unstarted(port, tmp_path, OpcUaSecurity(
            tmp_path / "edge.der", tmp_path / "edge.pem", tmp_path / "server.der",
            "urn:hedge:edge"))
        secured.start()
        assert secured.connected.wait(30), "no secured session"
        rows, _ = receive(secured, 20)
        secured.close()
        assert len(rows) >= 20
        plain = unstarted(port, tmp_path)
        plain.start()
        assert not plain.connected.wait(3)  # the machine offers no unsecured endpoint
        plain.close()
    finally:
        machine.terminate()
        machine.wait(10)
