"""Helpers for tests against simulated machines: recorded AI4I-like rows, a schema for them,
and a broker of our own (the real Mosquitto binary) for restart tests."""

from __future__ import annotations

import getpass
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd

from hedge.data import Schema
from hedge.services import free_port
from hedge.sim.broker import mosquitto_running
from hedge.sim.milling import MODES, MillingMachine
from hedge.sim.telemetry import AI4I_VARIABLES

VARIABLES = AI4I_VARIABLES[:7]
MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"


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
def own_mosquitto(folder: Path, port: int | None = None) -> Iterator[int]:
    """A Mosquitto of our own on a free port, persisting sessions and queued messages in
    `folder` (so that a restart keeps them); yields its port."""
    import pytest

    if not Path(MOSQUITTO).exists():
        pytest.skip("the mosquitto binary is not installed")
    port = port or free_port()
    folder.mkdir(parents=True, exist_ok=True)
    config = folder / "mosquitto.conf"
    # run as this user (as root, mosquitto would switch to its own user, which cannot write
    # the test's folder)
    config.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence true\n"
                      f"persistence_location {folder}/\nmax_queued_messages 0\n"
                      f"user {getpass.getuser()}\n")
    proc = subprocess.Popen([MOSQUITTO, "-c", str(config)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while not mosquitto_running(port=port):
            if time.monotonic() > deadline or proc.poll() is not None:
                pytest.fail("our own mosquitto did not start")
            time.sleep(0.05)
        yield port
    finally:
        proc.terminate()  # SIGTERM: mosquitto saves its persistence file
        proc.wait(10)
