"""MQTT brokers for the demo, tests and benchmarks: `local_broker` is the local Mosquitto when
one answers on 127.0.0.1:1883, otherwise an in-process broker (amqtt) on a free loopback port;
`mosquitto_process` is a Mosquitto of its own (the installed binary) on a free port, with
persistence and no limit on queued messages, and optionally users with passwords and a TLS
listener (`BrokerTls`). Each lasts as long as its context is open."""

from __future__ import annotations

import asyncio
import getpass
import logging
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from amqtt.broker import Broker

from hedge.aio import LoopThread
from hedge.errors import HedgeError
from hedge.services import accepting, free_port, wait_accepting

__all__ = ["MOSQUITTO", "MOSQUITTO_PASSWD", "BrokerTls", "local_broker", "mosquitto_process",
           "mosquitto_running"]

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
MOSQUITTO_PASSWD = shutil.which("mosquitto_passwd") or "/usr/bin/mosquitto_passwd"


def mosquitto_running(host: str = "127.0.0.1", port: int = 1883) -> bool:
    """Whether a broker answers on `host`:`port` (the local Mosquitto by default)."""
    return accepting(port, host)


@contextmanager
def local_broker() -> Iterator[str]:
    """The URL of a broker to use: Mosquitto on 127.0.0.1:1883 if it answers, else amqtt."""
    if mosquitto_running():
        yield "mqtt://127.0.0.1:1883"
        return
    logging.getLogger("amqtt").setLevel(logging.WARNING)
    port = free_port()

    async def serve(thread: LoopThread) -> None:
        broker = Broker({"listeners": {"default": {"type": "tcp",
                                                   "bind": f"127.0.0.1:{port}"}},
                         "auth": {"allow-anonymous": True}}, loop=asyncio.get_running_loop())
        await broker.start()
        thread.ready()
        await thread.stopping.wait()
        await broker.shutdown()

    loop = LoopThread("the in-process MQTT broker", serve)
    loop.start(10)
    try:
        yield f"mqtt://127.0.0.1:{port}"
    finally:
        loop.stop(10)


@dataclass(frozen=True)
class BrokerTls:
    """A TLS listener: the broker presents `cert_file` (its key: `key_file`, PEM), and with
    `require_certificate` accepts only clients presenting a certificate issued by the CA in
    `ca_file` (mutual TLS)."""

    ca_file: Path
    cert_file: Path
    key_file: Path
    require_certificate: bool = False


def _password_file(folder: Path, users: dict[str, str]) -> Path:
    """`folder`/passwords with `users` (name: password), hashed by mosquitto_passwd."""
    if not Path(MOSQUITTO_PASSWD).exists():
        raise HedgeError("the mosquitto_passwd tool is not installed (Debian: apt install "
                         "mosquitto), so no broker with users can start")
    path = folder / "passwords"
    path.unlink(missing_ok=True)
    path.touch(0o600)
    for name, password in users.items():
        done = subprocess.run([MOSQUITTO_PASSWD, "-b", str(path), name, password],
                              capture_output=True, text=True, check=False)
        if done.returncode != 0:
            why = (done.stderr or done.stdout).strip()
            raise HedgeError(f"mosquitto_passwd refused the user {name!r}: {why}")
    return path


@contextmanager
def mosquitto_process(folder: Path, port: int | None = None, *, anonymous: bool | None = None,
                      users: dict[str, str] | None = None,
                      tls: BrokerTls | None = None) -> Iterator[int]:
    """A Mosquitto of our own on 127.0.0.1:`port` (default: a free one), persisting sessions
    and queued messages in `folder` (a restart on the same port keeps them), queueing without
    limit for subscribers that are away; yields its port.

    `users` (name: password) are the only credentials it accepts; it refuses clients without
    credentials if `anonymous` is false, which is the default only with `users`. With `tls`
    the listener speaks TLS only (MQTT over TLS; its certificate files must be readable by
    this user, as the broker runs as this user). Its log: `folder`/mosquitto.log.
    `HedgeError` if the binary (or mosquitto_passwd, with users) is missing or the broker does
    not start."""
    if not Path(MOSQUITTO).exists():
        raise HedgeError("the mosquitto binary is not installed (Debian: apt install mosquitto)")
    port = port or free_port()
    folder.mkdir(parents=True, exist_ok=True)
    if anonymous is None:
        anonymous = users is None
    # run as this user (as root, mosquitto would switch to its own user, which cannot write
    # to `folder`)
    lines = [f"listener {port} 127.0.0.1", f"allow_anonymous {str(anonymous).lower()}",
             "persistence true", f"persistence_location {folder}/", "max_queued_messages 0",
             f"user {getpass.getuser()}"]
    if users is not None:
        lines.append(f"password_file {_password_file(folder, users)}")
    if tls is not None:
        lines += [f"cafile {tls.ca_file}", f"certfile {tls.cert_file}",
                  f"keyfile {tls.key_file}",
                  f"require_certificate {str(tls.require_certificate).lower()}"]
    config = folder / "mosquitto.conf"
    config.write_text("\n".join(lines) + "\n")
    with (folder / "mosquitto.log").open("ab") as log:
        proc = subprocess.Popen([MOSQUITTO, "-c", str(config)], stdout=subprocess.DEVNULL,
                                stderr=log)
    try:
        try:
            wait_accepting(port, 10, process=proc)  # a TCP connect: plain or TLS listener
        except HedgeError as exc:
            raise HedgeError(f"mosquitto did not start on port {port} ({exc}); see {config} "
                             f"and {folder / 'mosquitto.log'}") from exc
        yield port
    finally:
        proc.terminate()  # SIGTERM: mosquitto saves its persistence file
        proc.wait(10)
