"""hedge services as child processes on free loopback ports (the demo, tests, tools):
`hedge cloud serve` (`CloudProcess`) and the owner's `hedge owner key-service`
(`KeyServiceProcess`).

A service runs in its own process group, so that `kill` takes its children (the cloud's job
workers) with it, as a crash of the machine would."""

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

__all__ = ["CloudProcess", "KeyServiceProcess", "ServiceProcess", "accepting", "free_port",
           "hedge_command", "wait_accepting"]


def hedge_command(*args: str) -> list[str]:
    """The command line that runs `hedge *args` with this interpreter (in a child process)."""
    return [sys.executable, "-m", "hedge.cli.main", *args]


def free_port() -> int:
    """A loopback port free right now (for services started by tests and tools)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def accepting(port: int, host: str = "127.0.0.1") -> bool:
    """Whether something accepts TCP connections on `host`:`port` now (plain or TLS)."""
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def wait_accepting(port: int, timeout: float = 30.0, host: str = "127.0.0.1", *,
                   process: subprocess.Popen[bytes] | None = None) -> None:
    """Wait until `host`:`port` accepts connections (a server just started); `HedgeError`
    after `timeout` seconds, or at once when `process` (the server) has exited."""
    deadline = time.monotonic() + timeout
    while not accepting(port, host):
        if process is not None and process.poll() is not None:
            raise HedgeError(f"the server for {host}:{port} exited ({process.returncode})")
        if time.monotonic() > deadline:
            raise HedgeError(f"nothing accepts connections on {host}:{port} after {timeout} s")
        time.sleep(0.05)


class ServiceProcess:
    """A `hedge` command serving HTTP with a /health route, on `port`."""

    def __init__(self, command: list[str], log: Path | None = None,
                 tls: ssl.SSLContext | None = None, env: dict[str, str] | None = None) -> None:
        """`command`: the `hedge` arguments (`--port` is appended); `log`: where its output
        goes (default: discarded); `tls`: a client context to check that the service answers
        over TLS (the command then names its certificate); `env`: extra environment."""
        self.port = free_port()
        self.url = f"{'https' if tls else 'http'}://127.0.0.1:{self.port}"
        self.command, self.log, self.tls, self.env = command, log, tls, env or {}
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60.0) -> None:
        """Start (or restart) the service and wait until it answers."""
        out = (os.fdopen(os.open(self.log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600), "ab")
               if self.log else subprocess.DEVNULL)  # a service's log is for its user only
        self.proc = subprocess.Popen(
            hedge_command(*self.command, "--port", str(self.port)),
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            env={**os.environ, **self.env})
        if self.log:
            out.close()  # type: ignore[union-attr]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise HedgeError(f"`hedge {' '.join(self.command[:2])}` exited "
                                 f"({self.proc.returncode}); see {self.log or 'its output'}")
            try:
                if httpx.get(self.url + "/health", timeout=1,
                             verify=self.tls or True).status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.1)
        self.stop()
        raise HedgeError(f"`hedge {' '.join(self.command[:2])}` did not start within "
                         f"{timeout:.0f} s")

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


class CloudProcess(ServiceProcess):
    def __init__(self, data_dir: Path, options: list[str] | None = None,
                 log: Path | None = None, tls: ssl.SSLContext | None = None) -> None:
        """`options`: further `hedge cloud serve` options (e.g. ["--workers", "0"])."""
        super().__init__(["cloud", "serve", "--data-dir", str(data_dir), *(options or [])],
                         log, tls)
        self.data_dir = data_dir


class KeyServiceProcess(ServiceProcess):
    def __init__(self, owner_dir: Path, passphrase: str, log: Path | None = None) -> None:
        """The key service of the owner directory `owner_dir` (which records its URL)."""
        super().__init__(["owner", "key-service", "--dir", str(owner_dir)], log,
                         env={"HEDGE_PASSPHRASE": passphrase})
