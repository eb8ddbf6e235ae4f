"""The loop shapes: a failed iteration is logged, counted and followed by the next; a
cancelled loop stops, within the grace, even when a client swallowed the cancellation."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import pytest

from keyforge_shared.loops import FailureStreak, consume, run_every, stop_tasks

Step = Callable[[], Awaitable[object]]
Shape = Callable[[str, Step, FailureStreak], Coroutine[Any, Any, None]]


async def _every(name: str, step: Step, streak: FailureStreak) -> None:
    await run_every(name, lambda: 0.01, step, streak=streak)


async def _consumer(name: str, step: Step, streak: FailureStreak) -> None:
    await consume(name, step, retry_s=0.01, streak=streak)


SHAPES = pytest.mark.parametrize("shape", [_every, _consumer], ids=["run_every", "consume"])


@SHAPES
async def test_a_failing_iteration_is_logged_counted_and_the_loop_goes_on(
    shape: Shape, caplog: pytest.LogCaptureFixture
) -> None:
    calls = 0
    ran_after_failures = asyncio.Event()

    async def step() -> None:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.001)  # a consumer's read blocks a little
        if calls in (2, 3):
            raise ConnectionError("valkey restarting")
        if calls >= 5:
            ran_after_failures.set()

    streak = FailureStreak("test-loop")
    caplog.set_level(logging.WARNING, logger="keyforge_shared.loops")
    task = asyncio.create_task(shape("test-loop", step, streak), name="test-loop")
    try:
        await asyncio.wait_for(ran_after_failures.wait(), 5)
    finally:
        await stop_tasks([task], grace_s=1)
    assert task.cancelled()
    assert streak.total == 2
    assert streak.in_a_row == 0  # the iterations after the failures succeeded
    lines = [r.getMessage() for r in caplog.records if "test-loop" in r.getMessage()]
    # One line for the streak's start, none for its second failure.
    assert lines == ["test-loop failed (ConnectionError, 1 in a row)"]


@SHAPES
async def test_a_loop_stops_when_its_client_swallows_the_cancellation(shape: Shape) -> None:
    entered = asyncio.Event()

    async def step() -> None:
        # What redis-py can do when cancelled while it connects: turn the
        # cancellation into a connection error (or carry on as if nothing happened).
        entered.set()
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            raise ConnectionError("connection reset while connecting") from None

    task = asyncio.create_task(shape("swallower", step, FailureStreak("swallower")))
    await asyncio.wait_for(entered.wait(), 5)
    loop = asyncio.get_running_loop()
    started = loop.time()
    await stop_tasks([task], grace_s=2)
    assert task.cancelled()
    assert loop.time() - started < 1


async def test_stop_gives_up_on_a_task_that_will_not_stop_after_the_grace(
    caplog: pytest.LogCaptureFixture,
) -> None:
    release = asyncio.Event()

    async def stubborn() -> None:
        while not release.is_set():
            try:
                await release.wait()
            except asyncio.CancelledError:
                continue  # ignores every cancellation: a bug the lifespan must outlive

    task = asyncio.create_task(stubborn(), name="stubborn")
    await asyncio.sleep(0)
    loop = asyncio.get_running_loop()
    started = loop.time()
    await stop_tasks([task], grace_s=0.2)
    assert 0.15 < loop.time() - started < 1
    assert not task.done()
    assert any("stubborn did not stop" in r.getMessage() for r in caplog.records)
    release.set()
    await asyncio.wait_for(task, 1)


class TermOver(Exception):
    pass


@SHAPES
async def test_only_a_fatal_error_ends_the_loop(shape: Shape) -> None:
    calls = 0

    async def step() -> None:
        nonlocal calls
        calls += 1
        raise ConnectionError("retried") if calls == 1 else TermOver("ends the loop")

    async def with_fatal(name: str, step: Step, streak: FailureStreak) -> None:
        if shape is _every:
            await run_every(name, lambda: 0.01, step, fatal=(TermOver,), streak=streak)
        else:
            await consume(name, step, retry_s=0.01, fatal=(TermOver,), streak=streak)

    streak = FailureStreak("fatal")
    with pytest.raises(TermOver):
        await asyncio.wait_for(with_fatal("fatal", step, streak), 5)
    assert calls == 2
    assert streak.total == 1
