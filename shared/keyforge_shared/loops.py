"""The two shapes of every background loop, and how a lifespan stops them.

- :func:`run_every`, the tick loop (arq's poll is the model): one iteration
  every interval, drift-free; a tick that fell behind is skipped, not burst.
- :func:`consume`, the consumer: one read and the handling of what it got,
  called again at once. A read from a connection blocks for a short timeout
  at most (``XREAD BLOCK``, a pub/sub ``get_message(timeout=...)``), so a
  connection gone silent is noticed; a read from this process (a queue, an
  event) may wait as long as it likes.

Both share one error policy. A loop never dies of one failed iteration
(Valkey restarting, Postgres failing over): it logs the error type with how
many failed in a row (the first of a streak and then every 60th, not a flood)
and goes on, the consumer after ``RETRY_S``. Only the error types a loop
names ``fatal`` end it (the asset manager's ``LockLost``: its term is over).

Cancelling the task stops it at the next await, even if a client library
swallowed the cancellation; the lifespan that started it stops it with
:func:`stop_tasks`, within a bounded grace.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

log = logging.getLogger(__name__)

STOP_GRACE_S = 5.0
RETRY_S = 0.5
# A streak of failures is logged at its start and then every this many.
LOG_EVERY = 60


@dataclass
class FailureStreak:
    """Failures in a row of one loop, surfaced as one counted log line now and then."""

    name: str
    in_a_row: int = 0
    total: int = 0

    def failed(self, exc: BaseException) -> None:
        self.in_a_row += 1
        self.total += 1
        if self.in_a_row == 1 or self.in_a_row % LOG_EVERY == 0:
            log.warning("%s failed (%s, %d in a row)", self.name, type(exc).__name__, self.in_a_row)

    def succeeded(self) -> None:
        if self.in_a_row >= LOG_EVERY:
            log.info("%s recovered after %d failures", self.name, self.in_a_row)
        self.in_a_row = 0


def raise_if_cancelled() -> None:
    """Honour a cancellation that a client library swallowed.

    Cancelled while it connects, redis-py can eat the CancelledError and raise
    a connection error instead, or carry on (measured: a loop then ran until
    its client was closed, past the lifespan's stop grace). The request stays
    visible on the task, so the loops check it on every pass and after every
    error.
    """
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


async def _attempt(
    call: Callable[[], Awaitable[object]],
    streak: FailureStreak,
    fatal: tuple[type[Exception], ...],
) -> bool:
    """One iteration of either loop shape, with their one error policy; True if it worked."""
    raise_if_cancelled()
    try:
        await call()
    except asyncio.CancelledError:
        raise
    except fatal:
        raise
    except Exception as exc:
        raise_if_cancelled()
        streak.failed(exc)
        return False
    streak.succeeded()
    return True


async def run_every(
    name: str,
    interval_s: Callable[[], float],
    iteration: Callable[[], Awaitable[object]],
    *,
    fatal: tuple[type[Exception], ...] = (),
    streak: FailureStreak | None = None,
) -> None:
    """Call ``iteration`` every ``interval_s()`` seconds (re-read each tick) until cancelled."""
    streak = streak or FailureStreak(name)
    loop = asyncio.get_running_loop()
    next_tick = loop.time()
    while True:
        await _attempt(iteration, streak, fatal)
        next_tick += interval_s()
        now = loop.time()
        next_tick = max(next_tick, now)  # fell behind: skip missed ticks rather than burst
        await asyncio.sleep(next_tick - now)


async def consume(
    name: str,
    read_once: Callable[[], Awaitable[object]],
    *,
    retry_s: float = RETRY_S,
    fatal: tuple[type[Exception], ...] = (),
    streak: FailureStreak | None = None,
) -> None:
    """Call ``read_once`` again and again until cancelled; after a failure wait ``retry_s``.

    ``read_once`` keeps its own position (a stream id, a subscription) between
    calls and drops what a failure may have broken (a subscription).
    """
    streak = streak or FailureStreak(name)
    while True:
        if not await _attempt(read_once, streak, fatal):
            await asyncio.sleep(retry_s)


async def stop_tasks(tasks: list[asyncio.Task[None]], grace_s: float = STOP_GRACE_S) -> None:
    """Cancel background tasks and wait for them, bounded; surface real crashes in the log."""
    for task in tasks:
        task.cancel()
    if not tasks:
        return
    done, pending = await asyncio.wait(tasks, timeout=grace_s)
    for task in pending:
        log.error("background task %s did not stop within %.0fs", task.get_name(), grace_s)
    for task in done:
        with contextlib.suppress(asyncio.CancelledError):
            exc = task.exception()
            if exc is not None:
                log.error("background task %s crashed: %s", task.get_name(), type(exc).__name__)
