"""Ingestion from machines into the edge's durable buffer, and alert latency, each beside the
bare protocol client on the same machine.

A simulated machine runs as its own process (`hedge sim machine`, replaying AI4I rows). The
edge agent runs as in production (`EdgeAgent.run`: connector, schema check, deduplication,
SQLite commit with fsync, scoring with a deployed logistic model, alert sinks). The reference
is the protocol library alone, subscribed to the same machine the same way and doing nothing
with what arrives: asyncua with the connector's subscription (10 ms publishing, timestamp
trigger, server-side queues), paho-mqtt with QoS 1. The machine publishes at a machine-like
pace (100 and 1,000 cycles/s) and, over OPC UA, flat out (as fast as its process can; the
offer then depends on how much CPU the client leaves it on this 2-core machine). For MQTT's
ceiling, a Mosquitto of our own (no queue limit) keeps a backlog of 50,000 messages for each
client's persistent session while it is away; each client is timed draining it from its first
message on. The paced MQTT runs use the local Mosquitto on 127.0.0.1:1883.

Latency, OPC UA: from a reading's source timestamp (stamped by the machine when it writes the
cycle) to the moment the edge's write of the failure risk and alert to the machine's nodes has
been acknowledged by the machine, for every row (rows that share an intake share a write). The
bare client's figure is the time until the cycle's last value arrived: the floor for any client.

First, the time of a full garbage collection in an edge process, with its heap as loaded and once
frozen: the pause every thread of the edge would otherwise take now and then. The heap stays
frozen for every run after it, bare clients' included, as `EdgeAgent.run` freezes its own.

    python benchmarks/ingest.py

The figures also go to benchmarks/results/ingest.json, with the machine and commit.
"""

from __future__ import annotations

import asyncio
import base64
import gc
import json
import logging
import os
import platform
import secrets
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import paho.mqtt.client as paho
from asyncua import Client, ua

from hedge.ckks import KeySet
from hedge.data import Schema, load_ai4i
from hedge.edge import EdgeAgent, EdgeConfig
from hedge.edge.alerts import OpcUaAlertSink
from hedge.edge.opcua import monitor
from hedge.edge.sinks import Prediction
from hedge.edge.streams import StreamStats
from hedge.errors import HedgeError
from hedge.ml import LinearModel
from hedge.runtime import freeze_heap
from hedge.services import free_port, hedge_command, wait_accepting
from hedge.sim.broker import mosquitto_process, mosquitto_running
from hedge.sim.edge_config import mqtt_sections, opcua_sections
from hedge.sim.opcua_server import endpoint, node_id
from hedge.sim.telemetry import AI4I_ROW_VARIABLES as VARIABLES
from hedge.wire.cloud_client import CloudClient
from hedge.wire.mqtt_settings import MqttSettings
from hedge.wire.package import build_package, new_package_key
from hedge.wire.signing import SigningKey
from machine_info import machine_info

RESULTS = Path(__file__).parent / "results" / "ingest.json"
WARM_UP, SECONDS = 2.0, 10.0
FLAT_OUT = 50_000.0  # cycles/s asked of the machine: more than it can make
BACKLOG = 50_000  # MQTT messages a broker keeps for a client that is away


class Clock:
    """A sink that records, after the sinks before it, how old each row is (ms)."""

    def __init__(self) -> None:
        self.ages: list[float] = []
        self.counting = False

    def write(self, predictions: Sequence[Prediction]) -> None:
        now = time.time() * 1e6
        if self.counting:
            self.ages += [(now - p.time) / 1e3 for p in predictions if p.time is not None]


class Measured:
    def __init__(self, values_per_s: float, ages: list[float]) -> None:
        self.values_per_s, self.ages = values_per_s, np.array(ages)

    def percentiles(self) -> dict[str, float]:
        """Latency in ms: p50, p99 and max (empty without latency samples)."""
        a = self.ages
        if not len(a):
            return {}
        return {"p50": float(np.percentile(a, 50)), "p99": float(np.percentile(a, 99)),
                "max": float(a.max())}

    def latency(self) -> str:
        p = self.percentiles()
        return f"{p['p50']:.1f} / {p['p99']:.1f} / {p['max']:.1f}" if p else "-"


def machine(rate: float, args: list[str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(replay_command(rate, *args), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)


def replay_command(rate: float, *args: str) -> list[str]:
    """`hedge sim machine` replaying AI4I at `rate` cycles per second."""
    return hedge_command("sim", "machine", "--replay", "ai4i", "--loop", "--speedup", str(rate),
                         *args)


def edge(folder: Path, source: str) -> EdgeAgent:
    """An enrolled edge (no cloud: uploads fail, rows stay buffered) with a logistic model."""
    folder.mkdir(parents=True, exist_ok=True)
    keys = KeySet.generate("fast", rotations=[])
    owner, key = SigningKey(), new_package_key()
    enrolment = {"version": 1, "cloud": "http://127.0.0.1:9", "consortium": 1,
                 "site": "bench", "token": "t", "owner_key": str(owner.verify_key),
                 "fingerprint": keys.fingerprint,
                 "package_key": base64.b64encode(key).decode()}
    (folder / "site.json").write_text(json.dumps(enrolment))
    frame = load_ai4i()[[v.column for v in VARIABLES]]
    schema = Schema.infer(frame, label="Machine failure", margin=0.5)
    schema.save(folder / "schema.json")
    (folder / "edge.toml").write_text('enrolment = "site.json"\ndata_dir = "data"\n'
                                      f'schema = "schema.json"\n{source}')
    agent = EdgeAgent(EdgeConfig.load(folder / "edge.toml"),
                      client=CloudClient("http://127.0.0.1:9", "t", retries=0))
    coef = np.zeros(len(schema.columns))
    model = LinearModel(schema.columns, -1.0, coef + 0.3, schema.to_dict())
    agent.models.install(build_package(model, site="bench", sequence=1, version=1,
                                       signing_key=owner, package_key=key))
    return agent


def until(done: Callable[[], bool], timeout: float = 120.0) -> float:
    """Seconds until `done()` holds."""
    start = time.monotonic()
    while not done():
        if time.monotonic() - start > timeout:
            raise TimeoutError(f"nothing arrived within {timeout:.0f} s")
        time.sleep(0.01)
    return time.monotonic() - start


def steady(rows: Callable[[], int], clock: Clock | None = None) -> float:
    """Values per second by the row count `rows()` over SECONDS, once rows arrive and WARM_UP
    has passed (the clock, if any, records the same span)."""
    until(lambda: rows() > 0)
    time.sleep(WARM_UP)
    if clock is not None:
        clock.counting = True
    before, start = rows(), time.monotonic()
    time.sleep(SECONDS)
    counted, elapsed = rows() - before, time.monotonic() - start
    if clock is not None:
        clock.counting = False
    return counted * len(VARIABLES) / elapsed


@contextmanager
def running(agent: EdgeAgent) -> Iterator[StreamStats]:
    """`agent.run` in a thread while the context is open (uploads fail quietly: no cloud);
    yields the connector's counts (`acknowledged`: rows committed)."""
    stop = threading.Event()
    runner = threading.Thread(target=agent.run, args=(stop, 3600.0))
    runner.start()
    try:
        yield agent.connector.queue.stats  # type: ignore[attr-defined]
    finally:
        stop.set()
        runner.join(30)
        agent.close()


def with_hedge(agent: EdgeAgent) -> Measured:
    clock = Clock()
    agent.sinks.append(clock)
    with running(agent) as stats:
        values_per_s = steady(lambda: stats.acknowledged, clock)
    failed = sum(s.failures for s in agent.sinks if isinstance(s, OpcUaAlertSink))
    if failed:  # the clock would have timed writes that never reached the machine
        raise SystemExit(f"{failed} alert writes to the machine failed; latency not measured")
    return Measured(values_per_s, clock.ages)


class Notifications:
    """asyncua subscription handler that only counts (and ages the cycle's last value)."""

    def __init__(self, cycle: ua.NodeId) -> None:
        self.cycle, self.values, self.counting = cycle, 0, False
        self.ages: list[float] = []

    def datachange_notification(self, node: Any, value: Any, data: Any) -> None:
        if not self.counting:
            return
        if node.nodeid == self.cycle:
            stamp = data.monitored_item.Value.SourceTimestamp.replace(tzinfo=UTC)
            self.ages.append((datetime.now(UTC) - stamp).total_seconds() * 1e3)
        else:
            self.values += 1


async def bare_opcua(endpoint: str, machine_name: str) -> Measured:
    async with Client(endpoint) as client:
        cycle = ua.NodeId.from_string(node_id(machine_name, "Cycle"))
        counter = Notifications(cycle)
        nodes = [node_id(machine_name, v.name) for v in VARIABLES]
        await monitor(client, counter, [*nodes, cycle], 10.0)  # the connector's subscription
        await asyncio.sleep(WARM_UP)
        counter.counting, start = True, time.monotonic()
        await asyncio.sleep(SECONDS)
        counter.counting = False
        return Measured(counter.values / (time.monotonic() - start), counter.ages)


def opcua(root: Path, rate: float, bare: bool) -> Measured:
    port = free_port()
    proc = machine(rate, ["--opcua-port", str(port)])
    url = endpoint(port)
    try:
        wait_accepting(port)
        if bare:
            return asyncio.run(bare_opcua(url, "mill-1"))
        return with_hedge(edge(root / f"opcua-{secrets.token_hex(3)}",
                               opcua_sections(url, "mill-1", VARIABLES)))
    finally:
        proc.terminate()
        proc.wait(10)


def mqtt(root: Path, rate: float, bare: bool) -> Measured:
    prefix = f"bench/{secrets.token_hex(3)}"
    args = ["--opcua-port", "0", "--mqtt", "mqtt://127.0.0.1:1883", "--topic-prefix", prefix]
    if bare:
        received = [0]
        client = session(1883, f"bare-{secrets.token_hex(3)}", f"{prefix}/+/telemetry",
                         received, persistent=False)
        proc = machine(rate, args)
        try:
            return Measured(steady(lambda: received[0]), [])
        finally:
            hang_up(client)
            proc.terminate()
            proc.wait(10)
    agent = edge(root / f"mqtt-{secrets.token_hex(3)}", mqtt_sections(
        "mqtt://127.0.0.1:1883", f"bench-{secrets.token_hex(3)}", prefix, VARIABLES))
    proc = machine(rate, args)  # the agent subscribes during the machine's start-up
    try:
        return with_hedge(agent)
    finally:
        proc.terminate()
        proc.wait(10)


def session(port: int, client_id: str, topic: str, received: list[int] | None = None, *,
            persistent: bool = True) -> paho.Client:
    """A subscribed QoS 1 session at the broker on `port`; `received[0]` counts messages."""
    client = MqttSettings.parse(f"mqtt://127.0.0.1:{port}").client(client_id,
                                                                   persistent=persistent)
    subscribed = threading.Event()
    client.on_subscribe = lambda *args: subscribed.set()
    if received is not None:
        def on_message(client: paho.Client, userdata: Any, message: paho.MQTTMessage) -> None:
            received[0] += 1
        client.on_message = on_message
    client.connect("127.0.0.1", port)
    client.loop_start()
    client.subscribe(topic, qos=1)
    subscribed.wait(10)
    return client


def hang_up(client: paho.Client) -> None:
    client.disconnect()
    client.loop_stop()


def mqtt_backlog(root: Path) -> tuple[Measured, Measured]:
    """Values per second at which a bare client and the edge drain a backlog of BACKLOG
    messages that a broker of our own (no queue limit) kept for their sessions."""
    with mosquitto_process(root / "broker") as port:
        prefix, topic = "bench/backlog", "bench/backlog/+/telemetry"
        for client_id in ("bare", "edge"):  # both sessions exist before the machine publishes
            hang_up(session(port, client_id, topic))
        subprocess.run(replay_command(FLAT_OUT, "--cycles", str(BACKLOG), "--opcua-port", "0",
                                      "--mqtt", f"mqtt://127.0.0.1:{port}",
                                      "--topic-prefix", prefix),
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        received = [0]
        bare = session(port, "bare", topic, received)
        until(lambda: received[0] > 0)  # both timed from their first message on
        seconds = until(lambda: received[0] >= BACKLOG)
        hang_up(bare)
        agent = edge(root / "mqtt-backlog", mqtt_sections(f"mqtt://127.0.0.1:{port}", "edge",
                                                          prefix, VARIABLES))
        with running(agent) as stats:
            until(lambda: stats.received > 0)
            drained = until(lambda: stats.acknowledged >= BACKLOG)
    values = BACKLOG * len(VARIABLES)
    return Measured(values / seconds, []), Measured(values / drained, [])


def full_collection_ms(folder: Path) -> tuple[float, float]:
    """A full garbage collection in an edge process (agent built, model loaded), median of 5,
    in ms: of the heap as loaded, and once `freeze_heap` exempted it (as `EdgeAgent.run`
    does). Every thread of the process waits while it runs."""
    agent = edge(folder, opcua_sections(endpoint(4840), "mill-1", VARIABLES))
    assert agent.models.active() is not None  # loaded, as run() has it before freezing

    def median_ms() -> float:
        times = []
        for _ in range(5):
            began = time.perf_counter()
            gc.collect()
            times.append((time.perf_counter() - began) * 1e3)
        return float(np.median(times))

    loaded = median_ms()
    freeze_heap()  # and so for every run after this one, bare clients included
    frozen = median_ms()
    agent.close()
    return loaded, frozen


def offer(rate: float) -> str:
    if rate == FLAT_OUT:
        return "flat out"
    return f"{rate:,.0f} cycles/s ({rate * len(VARIABLES):,.0f} values/s)"


def main() -> None:
    logging.getLogger("asyncua").setLevel(logging.ERROR)
    logging.getLogger("hedge.edge").setLevel(logging.ERROR)  # the absent cloud
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"Python {platform.python_version()}; {len(VARIABLES)} mapped values per row, "
          f"{SECONDS:.0f} s after {WARM_UP:.0f} s warm-up")
    results: dict[str, Any] = {"machine": machine_info(), "ingest_values_per_s": {},
                               "latency_ms": {}}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        loaded, frozen = full_collection_ms(root / "gc")
        results["full_collection_ms"] = {"loaded": loaded, "frozen": frozen}
        print(f"\na full garbage collection in the edge process: {loaded:.1f} ms with its heap "
              f"as loaded, {frozen:.2f} ms once frozen (hedge.runtime.freeze_heap)")
        print("\ningestion into the durable buffer (values/s; target >= 5,000 for each protocol)")
        print(f"{'protocol':9s}{'machine offers':32s}{'bare client':>14s}{'hedge edge':>14s}")
        latency: dict[float, tuple[Measured, Measured]] = {}
        for name, run, rates in (("OPC UA", opcua, (100.0, 1000.0, FLAT_OUT)),
                                 ("MQTT", mqtt, (1000.0,))):
            if name == "MQTT" and not mosquitto_running():
                print("MQTT paced: not measured (no Mosquitto on 127.0.0.1:1883)")
                continue
            for rate in rates:
                bare, hedge = run(root, rate, True), run(root, rate, False)
                if name == "OPC UA":
                    latency[rate] = bare, hedge
                results["ingest_values_per_s"][f"{name}, {offer(rate)}"] = {
                    "bare": bare.values_per_s, "edge": hedge.values_per_s}
                print(f"{name:9s}{offer(rate):32s}{bare.values_per_s:14,.0f}"
                      f"{hedge.values_per_s:14,.0f}", flush=True)
        try:
            bare, hedge = mqtt_backlog(root)
            results["ingest_values_per_s"][f"MQTT, a backlog of {BACKLOG:,} messages"] = {
                "bare": bare.values_per_s, "edge": hedge.values_per_s}
            print(f"{'MQTT':9s}{f'a backlog of {BACKLOG:,} messages':32s}"
                  f"{bare.values_per_s:14,.0f}{hedge.values_per_s:14,.0f}", flush=True)
        except HedgeError as exc:
            print(f"MQTT backlog: not measured ({exc})")
        print("\nOPC UA latency from the machine's source timestamp, ms (p50 / p99 / max)")
        print(f"{'machine offers':32s}{'bare client: cycle arrived':>30s}"
              f"{'hedge: alert acked by machine':>32s}   target p99 < 100")
        for rate, (bare, hedge) in latency.items():
            print(f"{offer(rate):32s}{bare.latency():>30s}{hedge.latency():>32s}")
            results["latency_ms"][f"OPC UA, {offer(rate)}"] = {
                "bare": bare.percentiles(), "edge": hedge.percentiles()}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
