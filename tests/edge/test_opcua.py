"""The OPC UA connector against a real asyncua server on loopback: rows arrive complete and in
order, partial rows are dropped and counted, the connector reconnects after the server
restarts, alerts reach the machine, and a pinned server certificate is enforced."""

from __future__ import annotations

import asyncio
import logging
import re
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pandas as pd
import pytest
from asyncua import Client, Server, ua
from asyncua.crypto.cert_gen import setup_self_signed_certificate
from cryptography.x509.oid import ExtendedKeyUsageOID

from hedge.edge import opcua
from hedge.edge.alerts import OpcUaAlertSink
from hedge.edge.opcua import OpcUaConnector, OpcUaSecurity
from hedge.edge.sinks import Prediction
from hedge.edge.streams import micros
from hedge.services import free_port, hedge_command, wait_accepting
from hedge.sim.opcua_server import endpoint, node_id
from hedge.sim.runner import SimulatorThread
from hedge.sim.telemetry import ReplaySource
from tests.edge.machines import VARIABLES, recorded

NODES = {node_id("mill-1", v.name): v.column for v in VARIABLES}
COLUMNS = [v.column for v in VARIABLES]
CYCLE = node_id("mill-1", "Cycle")
NODES_BY_COLUMN = {column: node for node, column in NODES.items()}


def replaying(rows: pd.DataFrame, rate: float, port: int) -> SimulatorThread:
    """A simulated machine `mill-1` that replays `rows` over OPC UA on `port`."""
    return SimulatorThread([ReplaySource("mill-1", rows, VARIABLES)], rate=rate,
                           opcua_port=port)


def unstarted(port: int, tmp_path: Path, security: OpcUaSecurity | None = None,
              timeout: float = 4.0) -> OpcUaConnector:
    return OpcUaConnector(endpoint(port), "mill-1", NODES, CYCLE,
                          tmp_path / "rejected.jsonl", security=security, timeout=timeout)


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


# -- assembling rows: asyncua's handler callback called directly --------------------------------


def at(cycle: int) -> datetime:
    """The source timestamp of `cycle`."""
    return datetime(2024, 5, 1, tzinfo=UTC) + timedelta(milliseconds=cycle)


def values(cycle: int) -> dict[str, float]:
    """The row the machine writes in `cycle` (distinct values per cycle and column)."""
    return {column: cycle + i / 100 for i, column in enumerate(COLUMNS)}


def notify(c: OpcUaConnector, node: str, value: Any, stamp: datetime) -> None:
    """What asyncua calls for one value: `node.nodeid` and the item's source timestamp are all
    the handler reads."""
    item = SimpleNamespace(Value=SimpleNamespace(SourceTimestamp=stamp))
    c.datachange_notification(SimpleNamespace(nodeid=ua.NodeId.from_string(node)), value,
                              SimpleNamespace(monitored_item=item))


def deliver(c: OpcUaConnector, cycle: int, missing: tuple[str, ...] = ()) -> None:
    """`cycle`'s values, the cycle counter last, except the columns in `missing` ("Cycle":
    the counter)."""
    row = values(cycle)
    for node, column in NODES.items():
        if column not in missing:
            notify(c, node, row[column], at(cycle))
    if "Cycle" not in missing:
        notify(c, CYCLE, cycle, at(cycle))


def queued(c: OpcUaConnector) -> dict[int, dict[str, Any]]:
    """The rows in the connector's queue by cycle (left in the queue)."""
    intake = c.queue.take()
    if intake is None:
        return {}
    assert {k[0] for k in intake.keys} == {"mill-1"}
    assert [k[1] for k in intake.keys] == sorted(k[1] for k in intake.keys)
    return {(k[1] - micros(at(0))) // 1000: row
            for k, row in zip(intake.keys, intake.rows, strict=True)}


def test_a_row_is_queued_once_every_node_and_the_cycle_reported(tmp_path: Path) -> None:
    c = unstarted(free_port(), tmp_path)
    deliver(c, 1, missing=("Cycle",))
    assert queued(c) == {}  # the cycle counter, written last, is still missing
    notify(c, CYCLE, 1, at(1))
    assert queued(c) == {1: values(1)}  # exactly the mapped columns, not the counter
    notify(c, "ns=2;s=mill-1.FailureRisk", 0.5, at(2))  # not mapped: ignored
    assert queued(c) == {1: values(1)} and c.incomplete == 0


def test_partial_rows_before_the_first_row_are_initial_values_not_counted(
        tmp_path: Path) -> None:
    c = unstarted(free_port(), tmp_path)
    # after subscribing, the server reports each node's current value, stamped whenever it
    # was last written: partial rows that are not lost data
    deliver(c, 1, missing=(COLUMNS[0], "Cycle"))
    notify(c, NODES_BY_COLUMN[COLUMNS[0]], 0.0, at(2))
    notify(c, CYCLE, 0, at(3))
    deliver(c, 4)
    assert queued(c) == {4: values(4)}
    assert c.incomplete == 0
    # from the first row on, a partial row is lost data
    deliver(c, 5, missing=(COLUMNS[1],))
    deliver(c, 6)
    assert queued(c) == {4: values(4), 6: values(6)}
    assert c.incomplete == 1


def test_partial_rows_older_than_a_completed_row_are_dropped_and_counted(
        tmp_path: Path) -> None:
    c = unstarted(free_port(), tmp_path)
    deliver(c, 1)
    deliver(c, 2, missing=(COLUMNS[0],))  # a value lost
    deliver(c, 3, missing=("Cycle",))  # the counter lost
    deliver(c, 5, missing=(COLUMNS[-1],))  # newer than the next complete row
    assert c.incomplete == 0  # nothing is known to be lost yet
    deliver(c, 4)
    assert c.incomplete == 2  # cycles 2 and 3 can no longer complete
    assert queued(c) == {1: values(1), 4: values(4)}
    # cycle 5 was kept: its last value completes it
    notify(c, NODES_BY_COLUMN[COLUMNS[-1]], values(5)[COLUMNS[-1]], at(5))
    assert queued(c) == {1: values(1), 4: values(4), 5: values(5)}
    assert c.incomplete == 2 and c.queue.stats.received == 3


def test_rows_interleaved_node_by_node_all_complete(tmp_path: Path) -> None:
    """A publish lists each node's queued values together: every row is partial until the
    counter's values arrive, and none of them is lost."""
    c = unstarted(free_port(), tmp_path)
    deliver(c, 0)
    for node, column in NODES.items():
        for cycle in range(1, 6):
            notify(c, node, values(cycle)[column], at(cycle))
    for cycle in range(1, 6):
        notify(c, CYCLE, cycle, at(cycle))
    assert queued(c) == {cycle: values(cycle) for cycle in range(6)}
    assert c.incomplete == 0


def test_beyond_max_partial_timestamps_the_oldest_partial_is_dropped_and_counted(
        tmp_path: Path) -> None:
    c = unstarted(free_port(), tmp_path)
    bound, extra = opcua._MAX_PARTIAL, 3
    first, rest = next(iter(NODES)), list(NODES)[1:]
    for cycle in range(bound + extra):  # one node keeps reporting, the others fell silent
        notify(c, first, values(cycle)[NODES[first]], at(cycle))
    # counted even before the first row: this many pending rows are not initial values
    assert c.incomplete == extra
    # the oldest pending one (cycle `extra`) was kept, with its first value: it completes
    for node in rest:
        notify(c, node, values(extra)[NODES[node]], at(extra))
    notify(c, CYCLE, extra, at(extra))
    assert queued(c) == {extra: values(extra)}
    assert c.incomplete == extra
    # the newest completes: the `bound - 2` pending ones between are dropped and counted
    last = bound + extra - 1
    for node in rest:
        notify(c, node, values(last)[NODES[node]], at(last))
    notify(c, CYCLE, last, at(last))
    assert queued(c) == {extra: values(extra), last: values(last)}
    assert c.incomplete == extra + bound - 2


def test_a_variable_that_stops_updating_makes_incomplete_rows(tmp_path: Path) -> None:
    """A real server: one variable is not written in two cycles."""
    port = free_port()

    async def scenario() -> tuple[list[dict[str, Any]], list[Any], OpcUaConnector]:
        server = Server()
        await server.init()
        server.set_endpoint(endpoint(port))
        idx = await server.register_namespace("urn:hedge:test")
        machine = await server.nodes.objects.add_object(idx, "m")
        nodes = {name: (await machine.add_variable(ua.NodeId(f"m.{name}", idx), name,
                                                   ua.Variant(0.0, ua.VariantType.Double))).nodeid
                 for name in ("A", "B", "Cycle")}

        async def write(cycle: int, names: tuple[str, ...] = ("A", "B", "Cycle")) -> None:
            for name in names:
                await server.write_attribute_value(nodes[name], ua.DataValue(
                    ua.Variant(float(cycle), ua.VariantType.Double), SourceTimestamp=at(cycle),
                    ServerTimestamp=at(cycle)))

        async with server:
            await write(0)
            c = OpcUaConnector(endpoint(port), "m", {nodes["A"].to_string(): "a",
                                                     nodes["B"].to_string(): "b"},
                               nodes["Cycle"].to_string(), tmp_path / "rejected.jsonl")
            await asyncio.to_thread(c.start)
            try:
                assert await asyncio.to_thread(c.connected.wait, 15)
                for cycle in range(1, 4):
                    await write(cycle)
                await write(4, ("A", "Cycle"))  # B stops updating
                await write(5, ("A", "Cycle"))
                await write(6)  # and updates again
                rows, keys = await asyncio.to_thread(receive, c, 5, 15)
                await asyncio.sleep(0.3)  # anything else the server might still send
            finally:
                await asyncio.to_thread(c.close)
        return rows, keys, c

    rows, keys, c = asyncio.run(scenario())
    assert [k[1] for k in keys] == [micros(at(n)) for n in (0, 1, 2, 3, 6)]
    assert rows == [{"a": float(n), "b": float(n)} for n in (0, 1, 2, 3, 6)]
    assert c.incomplete == 2 and c.queue.pending() == 0


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


def test_reconnecting_waits_twice_as_long_after_each_failure_up_to_the_limit(
        tmp_path: Path, caplog: pytest.LogCaptureFixture,
        monkeypatch: pytest.MonkeyPatch) -> None:
    assert (opcua.RETRY_FIRST_S, opcua.RETRY_MAX_S) == (0.5, 10.0)  # as docs/connectors.md says
    monkeypatch.setattr(opcua, "RETRY_MAX_S", 2.0)  # the limit reached in 3.5 s, not 15.5 s
    c = unstarted(free_port(), tmp_path)  # nothing listens there
    with caplog.at_level(logging.WARNING, logger="hedge.edge"):
        c.start()
        deadline = time.monotonic() + 15
        while caplog.text.count("retrying in") < 4 and time.monotonic() < deadline:
            time.sleep(0.05)
        c.close()
    waits = re.findall(r"retrying in ([0-9.]+) s", caplog.text)
    assert waits[:4] == ["0.5", "1.0", "2.0", "2.0"]
    assert not c.connected.is_set()
    assert c.queue.stats.connect_failures >= 4 and c.queue.stats.reconnects == 0


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


def test_basic256sha256_sessions_work_and_mispinned_or_unsecured_ones_are_refused(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    async def certificates() -> None:
        # the machine's, and an impostor's made the same way (another key pair)
        for name in ("server", "impostor"):
            await setup_self_signed_certificate(
                tmp_path / f"{name}.pem", tmp_path / f"{name}.der",
                "urn:freeopcua:python:server", "127.0.0.1", [ExtendedKeyUsageOID.SERVER_AUTH],
                {"commonName": "machine"})
        await setup_self_signed_certificate(
            tmp_path / "edge.pem", tmp_path / "edge.der", "urn:hedge:edge", "127.0.0.1",
            [ExtendedKeyUsageOID.CLIENT_AUTH], {"commonName": "edge"})

    def pinning(server_certificate: str) -> OpcUaSecurity:
        return OpcUaSecurity(tmp_path / "edge.der", tmp_path / "edge.pem",
                             tmp_path / server_certificate, "urn:hedge:edge")

    asyncio.run(certificates())
    port = free_port()
    machine = subprocess.Popen(
        hedge_command("sim", "machine", "--opcua-port", str(port), "--speedup", "100",
                      "--certificate", str(tmp_path / "server.der"),
                      "--private-key", str(tmp_path / "server.pem")),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_accepting(port)
        secured = unstarted(port, tmp_path, pinning("server.der"))
        secured.start()
        assert secured.connected.wait(30), "no secured session"
        rows, _ = receive(secured, 20)
        secured.close()
        assert len(rows) >= 20
        # the machine serves; a connector pinning another certificate, and one without
        # security (the machine offers no unsecured endpoint), never get a session
        wrong = unstarted(port, tmp_path, pinning("impostor.der"), timeout=2)
        plain = unstarted(port, tmp_path, timeout=2)
        try:
            for c in (wrong, plain):
                c.start()
            deadline = time.monotonic() + 15
            while (min(wrong.queue.stats.connect_failures,
                       plain.queue.stats.connect_failures) < 1
                   and time.monotonic() < deadline):
                assert not wrong.connected.wait(0.05) and not plain.connected.is_set()
            for c in (wrong, plain):
                assert c.queue.stats.connect_failures >= 1  # an attempt failed; it tries again
                assert c.queue.stats.reconnects == 0  # it never had a connection
                assert not c.connected.is_set()
        finally:
            for c in (wrong, plain):
                c.close()
        assert wrong.queue.stats.received == 0 and plain.queue.stats.received == 0
        # each refusal is logged with its reason (a mispinned machine does not answer: a
        # timeout, whose message is empty)
        retries = [r.getMessage() for r in caplog.records if "retrying in" in r.getMessage()]
        assert retries and not [m for m in retries if ": ; retrying" in m]
        assert any("TimeoutError; retrying" in m for m in retries)
    finally:
        machine.terminate()
        machine.wait(10)
