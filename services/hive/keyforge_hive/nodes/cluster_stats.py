"""``get_cluster_stats``: O(live nodes), from the live index, never a KEYS or full SCAN."""

from __future__ import annotations

import asyncio
import logging
import math
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import cast

import asyncpg
from redis.asyncio import Redis

from keyforge_hive.nodes.telemetry import sum_telemetry
from keyforge_shared.keys import Keys
from keyforge_shared.protocol.cluster import ClusterStats

# Dashboards poll this; one computation per second per hive is plenty.
CACHE_S = 1.0
# The one Postgres figure may not hold the answer up (the rest is live from
# Valkey): past this budget the last count read stands in.
JOBS_ACTIVE_BUDGET_S = 0.5

log = logging.getLogger(__name__)


async def _jobs_active(pool: asyncpg.Pool, fallback: int) -> int:
    try:
        async with asyncio.timeout(JOBS_ACTIVE_BUDGET_S):
            return int(await pool.fetchval("SELECT count(*) FROM jobs WHERE status = 'active'"))
    except (TimeoutError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        log.warning("cluster stats: jobs_active from the last answer (%s)", type(exc).__name__)
        return fallback


async def live_node_ids(valkey: Redis, keys: Keys, down_after_s: int) -> list[str]:
    server_s, micros = await valkey.time()
    cutoff_ms = (server_s * 1000 + micros // 1000) - down_after_s * 1000
    raw = cast(list[bytes], await valkey.zrangebyscore(keys.live_nodes(), f"({cutoff_ms}", "+inf"))
    return [r.decode() for r in raw]


async def get_cluster_stats(
    valkey: Redis, keys: Keys, pool: asyncpg.Pool, down_after_s: int, jobs_active_before: int = 0
) -> ClusterStats:
    ids = await live_node_ids(valkey, keys, down_after_s)
    telemetry: list[bytes | None] = []
    drained: set[bytes] = set()
    if ids:
        async with valkey.pipeline(transaction=False) as pipe:
            pipe.mget(keys.heartbeats(ids))
            pipe.smembers(keys.drained_nodes())  # a handful, even in a large fleet
            telemetry, drained = await pipe.execute()
    total_ips, avg_temp, ram_used, ram_total = sum_telemetry(telemetry)
    jobs_active = await _jobs_active(pool, jobs_active_before)
    live = set(ids)
    return ClusterStats(
        nodes_online=len(ids),
        nodes_draining=sum(1 for node in drained if node.decode() in live),
        total_ips=total_ips,
        avg_temperature_c=avg_temp,
        ram_used_bytes=ram_used,
        ram_total_bytes=ram_total,
        jobs_active=int(jobs_active),
        as_of=datetime.now(UTC),
    )


@dataclass
class StatsCache:
    """The last answer for ``CACHE_S``, so a polling crowd costs one computation."""

    value: ClusterStats | None = None
    computed_at: float = -math.inf

    def fresh(self) -> ClusterStats | None:
        if self.value is not None and time.monotonic() - self.computed_at < CACHE_S:
            return self.value
        return None

    def store(self, value: ClusterStats) -> ClusterStats:
        self.value, self.computed_at = value, time.monotonic()
        return value
