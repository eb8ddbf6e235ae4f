"""What one running hive holds, built by the lifespan, and how routes reach it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

import asyncpg
from fastapi import Depends, Request
from redis.asyncio import Redis

from keyforge_hive.config import HiveSettings
from keyforge_hive.events.fanout import EventFanout
from keyforge_hive.events.limits import StreamLeases
from keyforge_hive.fleet.state import FleetControl
from keyforge_hive.jobs.state import JobsState
from keyforge_hive.nodes.cluster_stats import StatsCache
from keyforge_hive.nodes.heartbeats import HeartbeatBatcher
from keyforge_hive.nodes.last_seen import LastSeenFlusher
from keyforge_hive.nodes.status import NodeStatusTracker, StatusAnnouncer
from keyforge_hive.records.work_units import WorkUnitsFlusher
from keyforge_shared.keys import Keys
from keyforge_shared.kv_crypto import Keyring
from keyforge_shared.live_settings import RuntimeView


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
    stream_leases: StreamLeases
    stats_cache: StatsCache
    jobs: JobsState
    fleet: FleetControl
    work_units: WorkUnitsFlusher
    secrets: Keyring | None  # None without KEYFORGE_SECRETS_KEY: secret values refused


def hive_of(request: Request) -> Hive:
    hive: Hive = request.app.state.hive
    return hive


async def _hive_dependency(request: Request) -> Hive:
    # async on purpose: FastAPI runs plain-def dependencies in a thread pool.
    return hive_of(request)


HiveDep = Annotated[Hive, Depends(_hive_dependency)]
