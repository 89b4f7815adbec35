"""A coroutine in a thread of its own, with its own event loop.

asyncua and amqtt are asyncio libraries; the edge agent, the demo and the tests are threads.
`LoopThread` runs `main(thread)` in a daemon thread: `start` returns once `main` called
`thread.ready()` (or raises what `main` raised before that), `main` ends when `thread.stopping`
is set (by `stop`, from any thread), and `call` runs a coroutine on the loop from outside.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

from hedge.errors import HedgeError

__all__ = ["LoopThread"]

log = logging.getLogger("hedge")
T = TypeVar("T")


class LoopThread:
    def __init__(self, name: str, main: Callable[[LoopThread], Awaitable[None]]) -> None:
        self.name, self._main = name, main
        self.stopping = asyncio.Event()  # bound to the thread's loop on first use there
        self.error: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ready, self._stop_asked = threading.Event(), threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def ready(self) -> None:
        """Called by `main` once it serves: `start` returns."""
        self._ready.set()

    def start(self, timeout: float = 30.0) -> None:
        self._thread.start()
        if not self._ready.wait(timeout):
            raise HedgeError(f"{self.name} did not start within {timeout:.0f} s")
        if self.error is not None:
            raise HedgeError(f"{self.name} did not start: {self.error}") from self.error

    def stop(self, timeout: float = 30.0) -> None:
        """Ask `main` to end (sets `stopping`) and wait for the thread."""
        self._stop_asked.set()
        if self._loop is not None and not self._loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile: main ended
                self._loop.call_soon_threadsafe(self.stopping.set)
        if self._thread.is_alive():
            self._thread.join(timeout)

    def call(self, coroutine: Coroutine[Any, Any, T], timeout: float) -> T:
        """Run `coroutine` on the thread's loop and wait for its result."""
        if self._loop is None:
            coroutine.close()
            raise HedgeError(f"{self.name} is not running")
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout)

    def _run(self) -> None:
        async def body() -> None:
            self._loop = asyncio.get_running_loop()
            if self._stop_asked.is_set():
                self.stopping.set()
            await self._main(self)

        try:
            asyncio.run(body())
        except BaseException as exc:  # reported to `start`, or logged once it has returned
            self.error = exc
            if self._ready.is_set():
                log.error("%s ended: %s", self.name, exc)
        finally:
            self._ready.set()
