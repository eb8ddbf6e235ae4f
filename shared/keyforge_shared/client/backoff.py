"""Exponential backoff with jitter, and sleeps that end early when the node stops (or a
signal stops it)."""

from __future__ import annotations

import asyncio
import contextlib
import random
import signal
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")

BASE_S = 0.5
# Low enough that a node resumes within seconds of its hive coming back.
CAP_S = 8.0


@dataclass
class Backoff:
    """Delays that double per failure up to ``cap_s``, each drawn from its upper half.

    The jitter keeps a fleet that lost its hive at the same moment from
    coming back in lockstep; the floor at half keeps one node from retrying
    in a tight loop.
    """

    base_s: float = BASE_S
    cap_s: float = CAP_S
    failures: int = 0

    def next_delay(self, at_least_s: float = 0.0) -> float:
        self.failures += 1
        ceiling = min(self.cap_s, self.base_s * 2 ** (self.failures - 1))
        return max(at_least_s, random.uniform(ceiling / 2, ceiling))  # noqa: S311 - jitter

    def reset(self) -> None:
        self.failures = 0


def stop_on_signals(stopping: asyncio.Event) -> None:
    """SIGTERM and Ctrl-C set ``stopping`` (the running loop's) instead of ending the process."""
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopping.set)


async def pause(stopping: asyncio.Event, seconds: float) -> bool:
    """Sleep ``seconds`` unless the node is stopping; True if it is."""
    if seconds > 0:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await stopping.wait()
    return stopping.is_set()


class Stopped(Exception):
    """The node began stopping while a call was waiting; the call was abandoned."""


async def unless_stopping(stopping: asyncio.Event, call: Awaitable[T]) -> T:
    """``call``'s result, or Stopped (with the call cancelled) as soon as the node stops:
    a 20 s lease poll must not hold a stop up."""
    task = asyncio.ensure_future(call)
    stop = asyncio.ensure_future(stopping.wait())
    try:
        await asyncio.wait({task, stop}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stop.cancel()
    if not task.done():
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        raise Stopped
    return task.result()
