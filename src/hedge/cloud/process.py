"""`hedge cloud serve` as a child process on a free loopback port (the demo, tests, tools).

The service runs in its own process group, so that `kill` takes its job workers with it, as a
crash of the machine would."""

from __future__ import annotations

import os
import signal
import socket
import ssl
import subprocess
import sys
import time
from pathlib import Path

import httpx

from hedge.errors import HedgeError

__all__ = ["CloudProcess"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class CloudProcess:
    def __init__(self, data_dir: Path, options: list[str] | None = None,
                 log: Path | None = None, tls: ssl.SSLContext | None = None) -> None:
        """`options`: further `hedge cloud serve` options (e.g. ["--workers", "0"]); `log`:
        where its output goes (default: discarded); `tls`: a client context to check that the
        service answers over TLS (the options then name its certificate)."""
        self.data_dir, self.port = data_dir, _free_port()
        self.url = f"{'https' if tls else 'http'}://127.0.0.1:{self.port}"
        self.tls = tls
        self.options, self.log = options or [], log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60.0) -> None:
        """Start (or restart) the service and wait until it answers."""
        out = self.log.open("ab") if self.log else subprocess.DEVNULL
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "hedge.cli.main", "cloud", "serve", "--data-dir",
             str(self.data_dir), "--port", str(self.port), *self.options],
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        if self.log:
            out.close()  # type: ignore[union-attr]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise HedgeError(f"the cloud service exited ({self.proc.returncode}); see "
                                 f"{self.log or 'its output'}")
            try:
                if httpx.get(self.url + "/health", timeout=1,
                             verify=self.tls or True).status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.1)
        self.stop()
        raise HedgeError(f"the cloud service did not start within {timeout:.0f} s")

    def kill(self) -> None:
        """SIGKILL the service and its workers (a crash)."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        """Terminate the service and its workers in order."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()
