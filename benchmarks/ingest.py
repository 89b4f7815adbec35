"""Ingestion from machines into the edge's durable buffer, and alert latency.

A simulated machine runs as its own process (`hedge sim machine`, replaying AI4I rows); the
edge agent ingests through its real path (connector, schema check, deduplication, SQLite commit
with fsync, scoring, alert sinks). Printed side by side with what the machine offered and with
the targets (>= 5,000 values/s from OPC UA and from MQTT; alert latency p99 < 100 ms).

Latency: from a reading's source timestamp (stamped by the machine when it writes the cycle)
to the moment the edge's write of the failure risk and alert to the machine's OPC UA nodes
has been acknowledged by the machine, for every row (rows that share an intake share a
write), with a deployed logistic model.

    python benchmarks/ingest.py
"""

from __future__ import annotations

import base64
import json
import logging
import os
import platform
import secrets
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from hedge.ckks import KeySet
from hedge.data import Schema, load_ai4i
from hedge.edge import EdgeAgent, EdgeConfig
from hedge.edge.sinks import Prediction
from hedge.ml import LinearModel
from hedge.package import build_package, new_package_key
from hedge.services import free_port
from hedge.signing import SigningKey
from hedge.sim.edge_config import mqtt_sections, opcua_sections
from hedge.sim.telemetry import AI4I_VARIABLES

VARIABLES = AI4I_VARIABLES[:7]
SECONDS = 10.0


class Clock:
    """A sink that records, after the sinks before it, how old each row is."""

    def __init__(self) -> None:
        self.ages: list[float] = []

    def write(self, predictions: Sequence[Prediction]) -> None:
        now = time.time() * 1e6
        self.ages += [(now - p.time) / 1e3 for p in predictions if p.time is not None]


def machine(args: list[str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "hedge.cli.main", "sim", "machine",
                             "--replay", "ai4i", "--loop", *args],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def edge(folder: Path, source: str) -> EdgeAgent:
    folder.mkdir(parents=True, exist_ok=True)
    keys = KeySet.generate("fast", rotations=[])
    owner = SigningKey()
    enrolment = {"version": 1, "cloud": "http://127.0.0.1:9", "consortium": 1,
                 "site": "bench", "token": "t", "owner_key": str(owner.verify_key),
                 "fingerprint": keys.fingerprint,
                 "package_key": base64.b64encode(new_package_key()).decode()}
    (folder / "site.json").write_text(json.dumps(enrolment))
    frame = load_ai4i()[[v.column for v in VARIABLES]]
    schema = Schema.infer(frame, label="Machine failure", margin=0.5)
    schema.save(folder / "schema.json")
    (folder / "edge.toml").write_text('enrolment = "site.json"\ndata_dir = "data"\n'
                                      f'schema = "schema.json"\n{source}')
    agent = EdgeAgent(EdgeConfig.load(folder / "edge.toml"))
    coef = np.zeros(len(schema.columns))
    model = LinearModel(schema.columns, -1.0, coef + 0.3, schema.to_dict())
    key = base64.b64decode(enrolment["package_key"])
    agent.models.install(build_package(model, site="bench", sequence=1, version=1,
                                       signing_key=owner, package_key=key))
    return agent


def measure(agent: EdgeAgent, seconds: float) -> float:
    """Rows per second ingested into the buffer over `seconds` after a warm-up."""
    agent.connector.start()
    deadline = time.monotonic() + 2.0
    while time.monotonic() < deadline:
        agent.connector.wait(0.1)
        agent.ingest()
    rows, start = 0, time.monotonic()
    while time.monotonic() - start < seconds:
        agent.connector.wait(0.1)
        rows += agent.ingest().ingested
    return rows / (time.monotonic() - start)


def run_opcua(root: Path, rate: float, seconds: float) -> tuple[float, Clock]:
    port = free_port()
    proc = machine(["--opcua-port", str(port), "--speedup", str(rate)])
    try:
        time.sleep(3)  # the server is up
        agent = edge(root / f"opcua-{rate:.0f}", opcua_sections(
            f"opc.tcp://127.0.0.1:{port}/hedge/sim/", "mill-1", VARIABLES))
        clock = Clock()
        agent.sinks.append(clock)
        rows_per_s = measure(agent, seconds)
        agent.close()
        return rows_per_s, clock
    finally:
        proc.terminate()
        proc.wait(10)


def run_mqtt(root: Path, rate: float, seconds: float) -> float:
    prefix = f"bench/{secrets.token_hex(3)}"
    agent = edge(root / "mqtt", mqtt_sections("mqtt://127.0.0.1:1883",
                                              f"bench-{secrets.token_hex(3)}", prefix, VARIABLES))
    agent.connector.start()
    time.sleep(1)
    proc = machine(["--opcua-port", "0", "--mqtt", "mqtt://127.0.0.1:1883", "--topic-prefix",
                    prefix, "--speedup", str(rate)])
    try:
        rows_per_s = measure(agent, seconds)
        agent.close()
        return rows_per_s
    finally:
        proc.terminate()
        proc.wait(10)


def main() -> None:
    logging.getLogger("asyncua").setLevel(logging.ERROR)
    values = len(VARIABLES)  # mapped values per row (features and label)
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"Python {platform.python_version()}")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        offered = 2000.0
        rows, _ = run_opcua(root, offered, SECONDS)
        print(f"OPC UA ingestion into the durable buffer: {rows * values:,.0f} values/s "
              f"({rows:,.0f} rows/s; the machine offered {offered * values:,.0f} values/s; "
              "target >= 5,000)")
        rows = run_mqtt(root, offered, SECONDS)
        print(f"MQTT ingestion into the durable buffer:   {rows * values:,.0f} values/s "
              f"({rows:,.0f} rows/s; the machine offered {offered * values:,.0f} values/s; "
              "target >= 5,000)")
        for rate in (100.0, 1000.0):
            _, clock = run_opcua(root, rate, SECONDS)
            ages = np.array(clock.ages)
            print(f"alert latency at {rate:,.0f} cycles/s ({len(ages):,} rows): p50 "
                  f"{np.percentile(ages, 50):.1f} ms, p99 {np.percentile(ages, 99):.1f} ms, "
                  f"max {ages.max():.1f} ms (target p99 < 100 ms)")


if __name__ == "__main__":
    main()
