"""Fixtures of the key service tests: a fast key set without rotations, a tiled weights vector
at a low level, services on fresh audit logs, and a real uvicorn server on loopback."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
import uvicorn
from fastapi import FastAPI

from hedge.ckks import EncryptedVector, KeySet
from hedge.ml.layout import RowLayout
from hedge.owner import AuditLog, KeyService

COLUMNS = 5
SLOTS = 4096
#: Distinctive weights: their repr must never show up in an audit log.
WEIGHTS = np.array([0.7182818284, -0.4142135623, 0.5772156649, -0.6180339887, 0.1415926535])


@pytest.fixture(scope="session")
def owner_keys() -> KeySet:
    return KeySet.generate("fast", rotations=[])


@pytest.fixture(scope="session")
def foreign_keys() -> KeySet:
    return KeySet.generate("fast", rotations=[])


@pytest.fixture(scope="session")
def layout() -> RowLayout:
    return RowLayout(COLUMNS, SLOTS)


@pytest.fixture
def low_weights(owner_keys: KeySet, layout: RowLayout) -> EncryptedVector:
    """Tiled weights multiplied down to level 2 of 3: `refresh_tiled` cuts them out with one
    more level, and level 1 of 'fast' holds values up to 2^47, enough for the 2^14 masks."""
    w = owner_keys.public().encrypt(layout.tile(WEIGHTS)).at_level(2)
    assert w.level == 2
    return w


@pytest.fixture
def make_service(owner_keys: KeySet, tmp_path: Path) -> Iterator[Callable[..., KeyService]]:
    logs: list[AuditLog] = []

    def make(name: str = "audit.jsonl", keys: KeySet | None = None) -> KeyService:
        log = AuditLog(tmp_path / name)
        logs.append(log)
        return KeyService(keys or owner_keys, log)

    yield make
    for log in logs:
        log.close()


@contextlib.contextmanager
def serve(app: FastAPI) -> Iterator[str]:
    """Run `app` with uvicorn in a thread on 127.0.0.1 (a free port); yields the base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()
        assert not thread.is_alive(), "uvicorn did not stop"
