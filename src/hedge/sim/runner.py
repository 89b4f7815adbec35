"""Running simulated machines: every `1 / rate` seconds each source makes one cycle, published
to the OPC UA server and/or over MQTT with one timestamp per cycle (UTC, strictly growing per
machine). `simulate` runs in the caller's event loop (the CLI); `SimulatorThread` runs the
same in a thread of its own (the demo, tests and benchmarks)."""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime, timedelta
from types import TracebackType

from hedge.aio import LoopThread
from hedge.errors import ParameterError
from hedge.sim.mqtt_publisher import TelemetryPublisher
from hedge.sim.opcua_server import MachineServer
from hedge.sim.telemetry import Source

__all__ = ["SimulatorThread", "simulate"]

_TICK = timedelta(microseconds=1)


async def simulate(sources: list[Source], *, rate: float, server: MachineServer | None = None,
                   publisher: TelemetryPublisher | None = None, cycles: int | None = None,
                   stop: asyncio.Event | None = None) -> int:
    """Publish until every source has ended, `cycles` cycles were made, or `stop` is set;
    returns the number of samples published. Behind schedule, cycles follow each other at
    once (the rate is an average)."""
    if not rate > 0:
        raise ParameterError(f"the rate must be positive (cycles per second), not {rate}")
    loop = asyncio.get_running_loop()
    start, tick, published = loop.time(), 0, 0
    last: dict[str, datetime] = {}
    live = list(sources)
    while live and (cycles is None or tick < cycles) and not (stop and stop.is_set()):
        for source in list(live):
            sample = source.next()
            if sample is None:
                live.remove(source)
                continue
            now = datetime.now(UTC)
            stamp = max(now, last[source.machine] + _TICK) if source.machine in last else now
            last[source.machine] = stamp
            if server is not None:
                await server.write(sample, stamp)
            if publisher is not None:
                publisher.publish(sample, stamp, source.variables)
            published += 1
        tick += 1
        await asyncio.sleep(max(0.0, start + tick / rate - loop.time()))
    return published


class SimulatorThread:
    """`simulate` in a background thread with its own event loop, the OPC UA server (if
    `opcua_port` is given) listening while the context is open. Each `start_publishing` runs
    the sources until they end (replays can be given new rows and started again); `finished`
    is set when they have."""

    def __init__(self, sources: list[Source], *, rate: float, opcua_port: int | None = None,
                 publisher: TelemetryPublisher | None = None) -> None:
        self.sources, self.rate, self.publisher = sources, rate, publisher
        self.server = (MachineServer(sources, port=opcua_port) if opcua_port is not None
                       else None)
        self.finished = threading.Event()
        self._go = threading.Event()
        self._thread = LoopThread("hedge-sim", self._serve)

    def __enter__(self) -> SimulatorThread:
        self._thread.start()
        return self

    def start_publishing(self) -> None:
        """Start the cycles (the server listens from `__enter__` on, so that clients can
        subscribe before the first value)."""
        self.finished.clear()
        self._go.set()

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._thread.stop()

    async def _serve(self, thread: LoopThread) -> None:
        if self.server is not None:
            await self.server.__aenter__()
        try:
            thread.ready()
            while not thread.stopping.is_set():
                if not self._go.is_set():
                    await asyncio.sleep(0.01)
                    continue
                self._go.clear()
                await simulate(self.sources, rate=self.rate, server=self.server,
                               publisher=self.publisher, stop=thread.stopping)
                self.finished.set()
        finally:
            if self.server is not None:
                await self.server.__aexit__(None, None, None)
