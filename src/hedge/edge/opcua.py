"""The edge's OPC UA connector (asyncua): subscribes to a machine's variables and assembles
one row per cycle.

Every mapped node is monitored with data-change notifications (trigger: status, value or
timestamp, so that a value repeated in the next cycle still arrives) and a queue on the
server, so that no value is lost between two publishes. A row is the set of values sharing one
source timestamp; it is complete when every mapped node (and the cycle counter, written last by
the machine) has a value for it. Partial rows older than a completed one can never complete
and are dropped, counted as `incomplete`.

Connection loss (the server restarts, the network fails): asyncua's client is not reused
after a loss. The connector closes it and creates a new client, session and subscription,
with growing back-off (0.5 s to 10 s). After reconnecting the server sends every node's current
value again; those rows carry a timestamp the agent has committed already and are dropped
there as duplicates.

Security: `security = "Basic256Sha256"` with the client's certificate and private key (and
optionally the server's certificate to pin) signs and encrypts the session.

Alerts back to the machine: `write_back` writes values to nodes (e.g. `FailureRisk`,
`Alert`) over the same connection.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from asyncua import Client, ua
from asyncua.crypto.security_policies import SecurityPolicyBasic256Sha256

from hedge.aio import LoopThread
from hedge.edge.streams import StreamConnector, StreamQueue, micros
from hedge.errors import HedgeError

__all__ = ["OpcUaConnector", "OpcUaSecurity", "monitor"]

log = logging.getLogger("hedge.edge")
_QUEUE = 10_000  # values the server keeps per node between two publishes
# a publish lists each node's values together, so up to a queue's worth of rows is partial
_MAX_PARTIAL = 2 * _QUEUE
RETRY_FIRST_S, RETRY_MAX_S = 0.5, 10.0  # the wait before reconnecting doubles between these


@dataclass(frozen=True)
class OpcUaSecurity:
    certificate: Path
    private_key: Path
    server_certificate: Path | None = None
    application_uri: str | None = None  # the URI in the client certificate, if the server checks it



async def monitor(client: Client, handler: Any, nodes: list[Any],
                  publishing_ms: float) -> None:
    """Subscribe `handler` (asyncua's `datachange_notification`) to every value of `nodes`
    the server samples, a value repeated in the next cycle included, up to _QUEUE values per
    node between two publishes. `HedgeError` if the server refuses a node."""
    subscription = await client.create_subscription(publishing_ms, handler)
    # built by hand for the public create_monitored_items: subscribe_data_change takes no
    # filter, and a value repeated in the next cycle must still be reported (trigger on the
    # timestamp too); the subscription is new, so handles 1..n are unique in it
    requests = [_monitor_request(client.get_node(n).nodeid, handle)
                for handle, n in enumerate(nodes, start=1)]
    for result in await subscription.create_monitored_items(requests):
        if isinstance(result, ua.StatusCode):
            raise HedgeError(f"the server refused to monitor a node: {result}")


def _monitor_request(node: ua.NodeId, handle: int) -> ua.MonitoredItemCreateRequest:
    """Every sampled value of `node`'s Value (fastest sampling, _QUEUE values kept between
    two publishes, oldest dropped first), reported on a change of status, value or timestamp."""
    parameters = ua.MonitoringParameters(
        ClientHandle=handle, SamplingInterval=0, QueueSize=_QUEUE, DiscardOldest=True,
        Filter=ua.DataChangeFilter(Trigger=ua.DataChangeTrigger.StatusValueTimestamp))
    return ua.MonitoredItemCreateRequest(
        ItemToMonitor=ua.ReadValueId(NodeId=node, AttributeId=ua.AttributeIds.Value),
        MonitoringMode=ua.MonitoringMode.Reporting, RequestedParameters=parameters)


class OpcUaConnector(StreamConnector):
    """Rows of machine `stream` from `endpoint`: `nodes` maps node ids to columns; `cycle` is
    the node id of the counter the machine writes last in each cycle. `start()` connects in a
    background thread; `poll()` hands over the rows received."""

    def __init__(self, endpoint: str, stream: str, nodes: dict[str, str], cycle: str,
                 rejected_log: Path, *, security: OpcUaSecurity | None = None,
                 publishing_ms: float = 10.0, timeout: float = 4.0) -> None:
        self.endpoint, self.stream = endpoint, stream
        self.nodes = {ua.NodeId.from_string(n): c for n, c in nodes.items()}
        self.cycle = ua.NodeId.from_string(cycle)
        self.queue = StreamQueue(f"opcua:{stream}", rejected_log)
        self.security = security
        self.publishing_ms, self.timeout = publishing_ms, timeout
        # partial rows dropped: older than a completed row (from the first row on), or the
        # oldest beyond _MAX_PARTIAL pending
        self.incomplete = 0
        self._rows_seen = False
        self.connected = threading.Event()
        self._partial: dict[int, dict[str, Any]] = {}
        self._client: Client | None = None
        self._thread = LoopThread(f"opcua-{stream}", self._supervise)

    # -- the agent's side -------------------------------------------------------------------

    def start(self) -> None:
        self._thread.start(10)

    def close(self) -> None:
        self._thread.stop(15)

    def write_back(self, values: dict[str, tuple[Any, Any, datetime | None]],
                   timeout: float = 5.0) -> None:
        """Write `values` (node id -> (value, variant type, source timestamp or None)) to the
        machine; raises `HedgeError` if not connected or the server refuses."""
        if not self.connected.is_set():
            raise HedgeError(f"not connected to {self.endpoint}; the write is skipped")
        try:
            self._thread.call(self._write(values), timeout)
        except Exception as exc:
            raise HedgeError(f"writing to {self.endpoint} failed: {exc}") from exc

    async def _write(self, values: dict[str, tuple[Any, Any, datetime | None]]) -> None:
        if self._client is None:
            raise HedgeError("not connected")
        nodes = [self._client.get_node(node) for node in values]
        await self._client.write_values(nodes, [ua.DataValue(ua.Variant(v, t),
                                                             SourceTimestamp=stamp)
                                                for v, t, stamp in values.values()])

    # -- the connection thread --------------------------------------------------------------

    async def _supervise(self, thread: LoopThread) -> None:
        thread.ready()
        stop = thread.stopping
        delay, connected_once = RETRY_FIRST_S, False
        while not stop.is_set():
            lost = asyncio.Event()
            client = Client(self.endpoint, timeout=self.timeout)
            session = False
            try:
                await self._connect(client, lost)
                session = True
                if connected_once:
                    self.queue.stats.reconnects += 1
                if connected_once or delay > RETRY_FIRST_S:
                    log.info("%s: connected to %s again", self.stream, self.endpoint)
                delay, connected_once = RETRY_FIRST_S, True
                await self._watch(client, lost, stop)
            except (TimeoutError, OSError, ua.UaError, HedgeError) as exc:
                if not session:
                    self.queue.stats.connect_failures += 1
                log.warning("%s: OPC UA connection to %s: %s; retrying in %.1f s",
                            self.stream, self.endpoint, str(exc) or type(exc).__name__, delay)
            finally:
                self.connected.clear()
                self._client = None
                try:
                    await asyncio.wait_for(client.disconnect(), 2)
                except Exception:  # a dead connection cannot be closed cleanly
                    log.debug("%s: closing the old client failed", self.stream, exc_info=True)
            if stop.is_set():
                break
            try:
                await asyncio.wait_for(stop.wait(), delay)
            except TimeoutError:
                delay = min(delay * 2, RETRY_MAX_S)

    async def _connect(self, client: Client, lost: asyncio.Event) -> None:
        if self.security is not None:
            s = self.security
            if s.application_uri:
                client.application_uri = s.application_uri
            await client.set_security(
                SecurityPolicyBasic256Sha256, certificate=str(s.certificate),
                private_key=str(s.private_key),
                server_certificate=str(s.server_certificate) if s.server_certificate else None,
                mode=ua.MessageSecurityMode.SignAndEncrypt)

        async def on_lost(exc: Exception) -> None:
            lost.set()

        client.connection_lost_callback = on_lost
        await client.connect()
        await monitor(client, self, [*self.nodes, self.cycle], self.publishing_ms)
        self._client = client
        self.connected.set()

    async def _watch(self, client: Client, lost: asyncio.Event, stop: asyncio.Event) -> None:
        """Until the connection is lost or the connector stops; a read every second checks
        that the server still answers."""
        while not stop.is_set() and not lost.is_set():
            try:
                await asyncio.wait_for(stop.wait(), 1.0)
            except TimeoutError:
                await asyncio.wait_for(client.nodes.server_state.read_value(), self.timeout)
        if lost.is_set():
            raise HedgeError("the connection was lost")

    # -- asyncua's subscription handler -----------------------------------------------------

    def datachange_notification(self, node: Any, value: Any, data: Any) -> None:
        source_time = data.monitored_item.Value.SourceTimestamp
        if source_time is None:
            return
        stamp = micros(source_time)
        nodeid = node.nodeid
        column = "\0cycle" if nodeid == self.cycle else self.nodes.get(nodeid)
        if column is None:
            return
        partial = self._partial.setdefault(stamp, {})
        partial[column] = value
        if len(partial) == len(self.nodes) + 1:
            del self._partial[stamp]
            partial.pop("\0cycle")
            for older in [s for s in self._partial if s < stamp]:
                del self._partial[older]
                self.incomplete += self._rows_seen  # before the first row: initial values
            self._rows_seen = True
            self.queue.put((self.stream, stamp), partial)
        elif len(self._partial) > _MAX_PARTIAL:
            del self._partial[min(self._partial)]
            self.incomplete += 1

    def status_change_notification(self, status: Any) -> None:
        log.warning("%s: subscription status %s", self.stream, status)
