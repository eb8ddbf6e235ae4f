"""``get_cluster_stats``: O(live nodes), from the live index, never a KEYS or full SCAN."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

import asyncpg
from redis.asyncio import Redis

from keyforge_hive.telemetry import decode_telemetry
from keyforge_shared.keys import Keys

# Dashboards poll this; one computation per second per hive is plenty.
CACHE_S = 1.0


async def live_node_ids(valkey: Redis, keys: Keys, down_after_s: int) -> list[str]:
    server_s, micros = await valkey.time()
    cutoff_ms = (server_s * 1000 + micros // 1000) - down_after_s * 1000
    raw = cast(list[bytes], await valkey.zrangebyscore(keys.live_nodes(), f"({cutoff_ms}", "+inf"))
    return [r.decode() for r in raw]


async def get_cluster_stats(
    valkey: Redis, keys: Keys, pool: asyncpg.Pool, down_after_s: int
) -> dict[str, Any]:
    ids = await live_node_ids(valkey, keys, down_after_s)
    telemetry: list[bytes | None] = []
    statuses: list[bytes | None] = []
    if ids:
        async with valkey.pipeline(transaction=False) as pipe:
            pipe.mget([keys.heartbeat(i) for i in ids])
            pipe.hmget(keys.node_status(), ids)
            telemetry, statuses = await pipe.execute()
    ips: list[float] = []
    temps: list[float] = []
    ram_used = ram_total = 0
    for raw in telemetry:
        if raw is None:
            continue
        t = decode_telemetry(raw)
        ips.append(t.ips)
        if t.temperature_c is not None:
            temps.append(t.temperature_c)
        ram_used += t.ram_used_bytes or 0
        ram_total += t.ram_total_bytes or 0
    jobs_active = await pool.fetchval("SELECT count(*) FROM jobs WHERE status = 'active'")
    return {
        "nodes_online": len(ids),
        "nodes_draining": sum(1 for s in statuses if s == b"draining"),
        "total_ips": math.fsum(ips),
        "avg_temperature_c": math.fsum(temps) / len(temps) if temps else None,
        "ram_used_bytes": ram_used,
        "ram_total_bytes": ram_total,
        "jobs_active": int(jobs_active),
        "as_of": datetime.now(UTC).isoformat(),
    }


@dataclass
class StatsCache:
    """The last answer for ``CACHE_S``, so a polling crowd costs one computation."""

    value: dict[str, Any] | None = None
    computed_at: float = -math.inf

    def fresh(self) -> dict[str, Any] | None:
        if self.value is not None and time.monotonic() - self.computed_at < CACHE_S:
            return self.value
        return None

    def store(self, value: dict[str, Any]) -> dict[str, Any]:
        self.value, self.computed_at = value, time.monotonic()
        return value
