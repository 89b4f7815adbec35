"""MQTT brokers for the demo, tests and benchmarks: `local_broker` is the local Mosquitto when
one answers on 127.0.0.1:1883, otherwise an in-process broker (amqtt) on a free loopback port;
`mosquitto_process` is a Mosquitto of its own (the installed binary) on a free port, with
persistence and no limit on queued messages. Each lasts as long as its context is open."""

from __future__ import annotations

import asyncio
import getpass
import logging
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from amqtt.broker import Broker

from hedge.aio import LoopThread
from hedge.errors import HedgeError
from hedge.services import free_port

__all__ = ["MOSQUITTO", "local_broker", "mosquitto_process", "mosquitto_running"]

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"


def mosquitto_running(host: str = "127.0.0.1", port: int = 1883) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


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


@contextmanager
def mosquitto_process(folder: Path, port: int | None = None, *,
                      anonymous: bool = True) -> Iterator[int]:
    """A Mosquitto of our own on `port` (default: a free one), persisting sessions and queued
    messages in `folder` (a restart on the same port keeps them), queueing without limit for
    subscribers that are away, refusing clients without credentials unless `anonymous`; yields
    its port. `HedgeError` if the binary is missing or the broker does not start."""
    if not Path(MOSQUITTO).exists():
        raise HedgeError("the mosquitto binary is not installed (Debian: apt install mosquitto)")
    port = port or free_port()
    folder.mkdir(parents=True, exist_ok=True)
    config = folder / "mosquitto.conf"
    # run as this user (as root, mosquitto would switch to its own user, which cannot write
    # to `folder`)
    config.write_text(f"listener {port} 127.0.0.1\nallow_anonymous {str(anonymous).lower()}\n"
                      "persistence true\n"
                      f"persistence_location {folder}/\nmax_queued_messages 0\n"
                      f"user {getpass.getuser()}\n")
    proc = subprocess.Popen([MOSQUITTO, "-c", str(config)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while not mosquitto_running(port=port):
            if time.monotonic() > deadline or proc.poll() is not None:
                raise HedgeError(f"mosquitto did not start on port {port}; see {config}")
            time.sleep(0.05)
        yield port
    finally:
        proc.terminate()  # SIGTERM: mosquitto saves its persistence file
        proc.wait(10)
