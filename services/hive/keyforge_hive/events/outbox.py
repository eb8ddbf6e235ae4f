"""``EventOutbox``: job events reach the bus in order, retried through a transient failure.

A job event is published after the Postgres commit that made the change, so
it cannot ride in the same atomic step (node status events do: their Lua
script appends them). Each event goes into a bounded in-process queue; one
sender publishes them oldest first and retries the head, with capped backoff,
until Valkey takes it, so a blip delays events but neither drops nor reorders
them. ``announce`` waits (briefly) for its own event, so in the normal case
the event is on the bus before the request is answered.

Lost only when the queue is full (Valkey down for a long time) or the hive
stops with events still queued: both are logged with their count.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from redis.asyncio import Redis

from keyforge_shared.events import EventType, publish_update
from keyforge_shared.keys import Keys

log = logging.getLogger(__name__)

CAPACITY = 10_000
# How long ``announce`` waits for its event to be published before it lets the
# request go on (the sender keeps trying).
ANNOUNCE_WAIT_S = 1.0
RETRY_START_S = 0.05
RETRY_CAP_S = 2.0


@dataclass
class _Pending:
    event_type: EventType
    data: Mapping[str, Any]
    published: asyncio.Future[None]


@dataclass
class EventOutbox:
    valkey: Redis
    keys: Keys
    capacity: int = CAPACITY
    published: int = 0
    retries: int = 0  # failed attempts that were tried again
    lost: int = 0
    _queue: deque[_Pending] = field(default_factory=deque)
    _wakeup: asyncio.Event = field(default_factory=asyncio.Event)

    async def announce(self, event_type: EventType, data: Mapping[str, Any]) -> None:
        if len(self._queue) >= self.capacity:
            self.lost += 1
            log.error(
                "%s event lost: outbox full (%d queued, %d lost so far)",
                event_type,
                len(self._queue),
                self.lost,
            )
            return
        pending = _Pending(event_type, data, asyncio.get_running_loop().create_future())
        self._queue.append(pending)
        self._wakeup.set()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(pending.published), ANNOUNCE_WAIT_S)

    async def flush(self, timeout_s: float) -> None:
        """Before stopping: give the sender up to ``timeout_s`` to empty the queue."""
        if self._queue:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(self._queue[-1].published), timeout_s)

    async def run(self) -> None:
        """The sender: a background task for the hive's life."""
        try:
            while True:
                if not self._queue:
                    self._wakeup.clear()
                    await self._wakeup.wait()
                await self._send_head()
        finally:
            if self._queue:
                self.lost += len(self._queue)
                log.error(
                    "%d events lost: the hive stopped before Valkey took them", len(self._queue)
                )
            for pending in self._queue:
                pending.published.cancel()
            self._queue.clear()

    async def _send_head(self) -> None:
        head = self._queue[0]
        delay = RETRY_START_S
        failures = 0
        while True:
            try:
                await publish_update(self.valkey, self.keys, head.event_type, head.data)
                break
            except Exception as exc:
                failures += 1
                self.retries += 1
                if failures == 1 or failures % 30 == 0:
                    log.warning(
                        "%s event publish failed (%s), retrying (%d tries, %d retries in all)",
                        head.event_type,
                        type(exc).__name__,
                        failures,
                        self.retries,
                    )
                await asyncio.sleep(delay)
                delay = min(delay * 2, RETRY_CAP_S)
        self._queue.popleft()
        self.published += 1
        if failures:
            log.info("%s event published after %d retries", head.event_type, failures)
        if not head.published.done():
            head.published.set_result(None)
