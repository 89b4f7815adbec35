"""A coroutine in a thread of its own: start, call, stop, and errors at start."""

from __future__ import annotations

import asyncio

import pytest

from hedge.aio import LoopThread
from hedge.errors import HedgeError


def test_start_call_and_stop() -> None:
    ended: list[bool] = []

    async def main(thread: LoopThread) -> None:
        thread.ready()
        await thread.stopping.wait()
        ended.append(True)

    loop = LoopThread("probe", main)
    loop.start(5)

    async def double(x: int) -> int:
        await asyncio.sleep(0)
        return 2 * x

    assert loop.call(double(21), 5) == 42
    loop.stop(5)
    assert ended == [True]


def test_an_error_before_ready_is_raised_by_start() -> None:
    async def main(thread: LoopThread) -> None:
        raise OSError("port taken")

    with pytest.raises(HedgeError, match="probe did not start: port taken"):
        LoopThread("probe", main).start(5)


def test_call_before_start_is_refused() -> None:
    async def main(thread: LoopThread) -> None:
        thread.ready()

    async def nothing() -> None:
        return None

    with pytest.raises(HedgeError, match="not running"):
        LoopThread("probe", main).call(nothing(), 1)
