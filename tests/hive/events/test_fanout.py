"""The fan-out's pass over its clients: every client, in order, spread, the slow one dropped.

In process: a pass touches only the clients' queues (the Valkey reader is
never used here).
"""

from __future__ import annotations

import asyncio
import time

import pytest
from redis.asyncio import Redis

from keyforge_hive.events import fanout as fanout_module
from keyforge_hive.events.fanout import (
    CLIENT_QUEUE,
    KEEPALIVE,
    SLICE,
    SPREAD_FROM_S,
    EventFanout,
    Frame,
    Subscriber,
)
from keyforge_shared.keys import Keys

CLIENTS = 400


def fanout() -> EventFanout:
    return EventFanout(Redis(host="127.0.0.1", port=1), Keys())


def frames(*ids: int) -> list[Frame]:
    return [Frame(f"{i}-0", (i, 0), f"id: {i}-0\ndata: {{}}\n\n".encode()) for i in ids]


def drained(subscriber: Subscriber) -> list[Frame | None]:
    return [subscriber.queue.get_nowait() for _ in range(subscriber.queue.qsize())]


async def test_every_client_gets_every_event_in_order_while_the_loop_keeps_turning() -> None:
    hub = fanout()
    clients = [hub.subscribe() for _ in range(CLIENTS)]
    turns = 0

    async def other_work() -> None:
        nonlocal turns
        while True:
            turns += 1
            await asyncio.sleep(0)

    worker = asyncio.create_task(other_work())
    await asyncio.sleep(0)
    started = turns
    await hub.offer(frames(1, 2, 3))
    worker.cancel()
    # Other tasks ran between the slices: the pass never held the loop for all clients.
    assert turns - started >= CLIENTS // SLICE - 1
    for client in clients:
        assert drained(client) == frames(1, 2, 3)
    assert hub.delivered == 3


async def test_a_client_that_stopped_reading_is_dropped_and_the_others_still_served() -> None:
    hub = fanout()
    slow, *others = [hub.subscribe() for _ in range(CLIENTS)]
    slow.streamer = asyncio.create_task(asyncio.sleep(60))
    for frame in frames(*range(CLIENT_QUEUE)):
        slow.queue.put_nowait(frame)
    await hub.offer(frames(5000))
    await asyncio.sleep(0)
    assert slow not in hub.subscribers
    assert slow.streamer.cancelled()
    assert hub.dropped_clients == 1
    assert all(drained(client) == frames(5000) for client in others)
    # A keepalive never drops a client: its queued events keep the stream warm.
    full = hub.subscribe()
    for frame in frames(*range(CLIENT_QUEUE)):
        full.queue.put_nowait(frame)
    await hub.keepalive()
    assert full in hub.subscribers
    assert hub.dropped_clients == 1
    assert all(drained(client) == [KEEPALIVE] for client in others)


async def test_a_client_gone_during_a_pass_is_not_written_to() -> None:
    hub = fanout()
    clients = [hub.subscribe() for _ in range(CLIENTS)]
    # The one the pass reaches last: a pass walks the subscriber set in its own order,
    # not in the order they subscribed (1 run in 40 put clients[-1] in the first slice).
    late = list(hub.subscribers)[-1]
    clients.remove(late)

    async def leave_soon() -> None:
        await asyncio.sleep(0)
        hub.unsubscribe(late)

    leaving = asyncio.create_task(leave_soon())
    await hub.offer(frames(7))
    await leaving
    assert drained(late) == []
    assert all(drained(client) == frames(7) for client in clients)


def reached(clients: list[Subscriber]) -> int:
    return sum(1 for client in clients if not client.queue.empty())


async def test_a_pass_after_a_quiet_spell_is_spread_until_the_next_event_arrives(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(fanout_module, "SPREAD_MAX_S", 60.0)
    hub = fanout()
    clients = [hub.subscribe() for _ in range(CLIENTS)]
    hub.last_pass = time.monotonic() - 1000  # quiet for a long while: spread over 60 s
    spreading = asyncio.create_task(hub.offer(frames(1)))
    await asyncio.sleep(0.2)
    assert 0 < reached(clients) < CLIENTS  # the first slices went at once, the rest wait
    # A new event is read: the pass stops spreading and finishes now, not in a minute.
    hub.pending.extend(frames(2))
    hub.arrived.set()
    await asyncio.wait_for(spreading, timeout=10)
    assert all(drained(client) == frames(1) for client in clients)


async def test_passes_close_together_are_not_spread(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fanout_module, "SPREAD_MAX_S", 60.0)
    hub = fanout()
    clients = [hub.subscribe() for _ in range(CLIENTS)]
    hub.last_pass = time.monotonic() - SPREAD_FROM_S / 2
    # Spread, this pass would take 60 s; it takes only turns of the loop.
    await asyncio.wait_for(hub.offer(frames(3)), timeout=10)
    assert all(drained(client) == frames(3) for client in clients)


async def test_deliver_offers_what_the_reader_queued_in_order() -> None:
    hub = fanout()
    clients = [hub.subscribe() for _ in range(SLICE)]
    delivering = asyncio.create_task(hub.deliver())
    hub.pending.extend(frames(1, 2))
    hub.arrived.set()
    for _ in range(100):
        await asyncio.sleep(0)
    delivering.cancel()
    assert hub.pending == []
    assert all(drained(client) == frames(1, 2) for client in clients)
