"""hedge.services' port probes: what accepts connections, and waiting until something does."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time

import pytest

from hedge.errors import HedgeError
from hedge.services import accepting, free_port, wait_accepting


def test_a_port_accepts_once_a_server_listens_on_it() -> None:
    port = free_port()
    assert not accepting(port)
    with pytest.raises(HedgeError, match=f"nothing accepts connections on 127.0.0.1:{port}"):
        wait_accepting(port, timeout=0.2)
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)

    def listen_later() -> None:
        time.sleep(0.3)
        server.bind(("127.0.0.1", port))
        server.listen()

    later = threading.Thread(target=listen_later)
    later.start()
    try:
        started = time.monotonic()
        wait_accepting(port, timeout=10)
        assert time.monotonic() - started >= 0.25 and accepting(port)
    finally:
        later.join()
        server.close()


def test_waiting_ends_at_once_when_the_server_exits() -> None:
    server = subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"])
    started = time.monotonic()
    with pytest.raises(HedgeError, match=r"exited \(3\)"):
        wait_accepting(free_port(), timeout=30, process=server)
    assert time.monotonic() - started < 10
