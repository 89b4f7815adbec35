"""An MQTT broker for the demo: the local Mosquitto when one answers on 127.0.0.1:1883,
otherwise an in-process broker (amqtt) on a free loopback port, for as long as the context is
open."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Iterator
from contextlib import contextmanager

from amqtt.broker import Broker

from hedge.aio import LoopThread
from hedge.services import free_port

__all__ = ["local_broker", "mosquitto_running"]


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
