"""The job plane of one hive: its queue (with the leaser) and its scorer cache."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass
from typing import Any

import asyncpg
from redis.asyncio import Redis

from keyforge_hive.events.fanout import EventFanout
from keyforge_hive.events.outbox import EventOutbox
from keyforge_hive.jobs.leases import Leaser
from keyforge_hive.jobs.queue import JobQueue
from keyforge_hive.jobs.scoring_cache import ScorerCache
from keyforge_shared.events import EventType
from keyforge_shared.keys import Keys
from keyforge_shared.loops import run_every

log = logging.getLogger(__name__)

QUEUE_SYNC_S = 5.0


@dataclass(frozen=True)
class JobsState:
    valkey: Redis
    keys: Keys
    queue: JobQueue
    scorers: ScorerCache
    outbox: EventOutbox

    @classmethod
    def open(
        cls,
        valkey: Redis,
        keys: Keys,
        pool: asyncpg.Pool,
        lease_s: Callable[[], int],
        may_lease: Callable[[str], Awaitable[bool]],
    ) -> JobsState:
        leaser = Leaser(valkey, keys, pool, lease_s)
        queue = JobQueue(valkey, keys, pool, leaser, may_lease)
        return cls(valkey, keys, queue, ScorerCache(valkey, keys), EventOutbox(valkey, keys))

    def loops(self, fanout: EventFanout) -> dict[str, Coroutine[Any, Any, None]]:
        return {
            "job-events": self.outbox.run(),
            "job-wakeups": self.queue.relay_wakeups(fanout),
            "job-queue-sync": run_every(
                "job-queue-sync", lambda: QUEUE_SYNC_S, self.queue.sync_queue
            ),
        }

    async def announce(self, event_type: EventType, data: Mapping[str, Any]) -> None:
        """Publish after a commit, in order; retried until the bus takes it (EventOutbox)."""
        await self.outbox.announce(event_type, data)
