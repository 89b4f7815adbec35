"""Helpers for tests against simulated machines: recorded AI4I-like rows, a schema for them,
and a broker of our own (the real Mosquitto binary) for restart tests."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd

from hedge.data import Schema
from hedge.sim.broker import (
    MOSQUITTO,
    MOSQUITTO_PASSWD,
    BrokerTls,
    mosquitto_process,
    mosquitto_running,
)
from hedge.sim.milling import MODES, MillingMachine
from hedge.sim.telemetry import AI4I_ROW_VARIABLES as VARIABLES


def recorded(rows: int, seed: int = 7) -> pd.DataFrame:
    """What a milling machine with `seed` makes, as AI4I columns (the expected rows)."""
    machine = MillingMachine("mill-1", seed, failure_scale=20)
    records = []
    for _ in range(rows):
        reading = machine.step()
        records.append({**reading.ai4i_row(), **{m: m in reading.failures for m in MODES}})
    frame = pd.DataFrame(records)
    frame["Machine failure"] = frame["Machine failure"].astype(bool)
    return frame


def ai4i_schema() -> Schema:
    return Schema.infer(recorded(2000, seed=1)[[v.column for v in VARIABLES]],
                        label="Machine failure", margin=0.5)


def system_broker_or_skip() -> str:
    import pytest

    if not mosquitto_running():
        pytest.skip("no MQTT broker answers on 127.0.0.1:1883 (start Mosquitto to run this)")
    return "mqtt://127.0.0.1:1883"


@contextmanager
def own_mosquitto(folder: Path, port: int | None = None, *,
                  users: dict[str, str] | None = None,
                  tls: BrokerTls | None = None) -> Iterator[int]:
    """`mosquitto_process`, skipping the test where Mosquitto (or, with `users`,
    mosquitto_passwd) is not installed."""
    import pytest

    if not Path(MOSQUITTO).exists():
        pytest.skip("the mosquitto binary is not installed")
    if users is not None and not Path(MOSQUITTO_PASSWD).exists():
        pytest.skip("mosquitto_passwd is not installed")
    with mosquitto_process(folder, port, users=users, tls=tls) as started:
        yield started
