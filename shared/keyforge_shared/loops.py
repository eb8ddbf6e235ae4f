"""The one shape of every background loop: tick, do one iteration, surface errors, stop.

A loop never dies of one failed iteration (Valkey restarting, Postgres
failing over): it logs the error type and tries again on the next tick,
drift-free. Cancelling the task stops it at the next await; the lifespan that
started it awaits it with a bounded grace.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)

STOP_GRACE_S = 5.0


async def run_every(
    name: str, interval_s: Callable[[], float], iteration: Callable[[], Awaitable[object]]
) -> None:
    """Call ``iteration`` every ``interval_s()`` seconds (re-read each tick) until cancelled."""
    loop = asyncio.get_running_loop()
    next_tick = loop.time()
    failures = 0
    while True:
        try:
            await iteration()
            failures = 0
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            failures += 1
            # One line per failure streak start and then every 60th, not a flood.
            if failures == 1 or failures % 60 == 0:
                log.warning("%s failed (%s, %d in a row)", name, type(exc).__name__, failures)
        next_tick += interval_s()
        now = loop.time()
        next_tick = max(next_tick, now)  # fell behind: skip missed ticks rather than burst
        await asyncio.sleep(next_tick - now)


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
