"""What one running hive holds, built by the lifespan, and how routes reach it."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Annotated

import asyncpg
from fastapi import Depends, Request
from redis.asyncio import Redis

from keyforge_hive.config import HiveSettings
from keyforge_hive.events.fanout import EventFanout
from keyforge_hive.jobs.state import JobsState
from keyforge_hive.nodes.cluster_stats import StatsCache
from keyforge_hive.nodes.heartbeats import HeartbeatBatcher, StoredBeat
from keyforge_hive.nodes.last_seen import LastSeenFlusher
from keyforge_hive.nodes.status import NodeStatusTracker
from keyforge_hive.records.work_units import WorkUnitsFlusher
from keyforge_shared.events import publish_update
from keyforge_shared.keys import Keys
from keyforge_shared.kv_crypto import Keyring
from keyforge_shared.live_settings import RuntimeView

log = logging.getLogger(__name__)


@dataclass
class StatusAnnouncer:
    """Status changes go to Postgres (via the flusher) and onto the event bus."""

    valkey: Redis
    keys: Keys
    flusher: LastSeenFlusher
    _tasks: set[asyncio.Task[str]] = field(default_factory=set)

    def node_status_changed(self, node_id: str, status: str) -> None:
        self.flusher.status_changed(node_id, status)
        task = asyncio.create_task(
            publish_update(
                self.valkey, self.keys, "node_status", {"node_id": node_id, "status": status}
            )
        )
        self._tasks.add(task)
        task.add_done_callback(self._published)

    def _published(self, task: asyncio.Task[str]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning("node_status event lost: %s", type(task.exception()).__name__)

    def beats_stored(self, beats: list[StoredBeat], now_ms: int) -> None:
        for beat in beats:
            self.flusher.saw(beat.node_id, now_ms)
            if beat.new_status is not None:
                self.node_status_changed(beat.node_id, beat.new_status)

    async def drain(self) -> None:
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)


@dataclass(frozen=True, slots=True)
class Hive:
    settings: HiveSettings
    keys: Keys
    pool: asyncpg.Pool
    valkey: Redis
    runtime: RuntimeView
    heartbeats: HeartbeatBatcher
    node_status: NodeStatusTracker
    last_seen: LastSeenFlusher
    announcer: StatusAnnouncer
    fanout: EventFanout
    stats_cache: StatsCache
    jobs: JobsState
    work_units: WorkUnitsFlusher
    secrets: Keyring | None  # None without KEYFORGE_SECRETS_KEY: secret values refused


def hive_of(request: Request) -> Hive:
    hive: Hive = request.app.state.hive
    return hive


async def _hive_dependency(request: Request) -> Hive:
    # async on purpose: FastAPI runs plain-def dependencies in a thread pool.
    return hive_of(request)


HiveDep = Annotated[Hive, Depends(_hive_dependency)]
