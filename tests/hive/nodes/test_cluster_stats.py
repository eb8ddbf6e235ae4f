from __future__ import annotations

import asyncio
import math

from redis.asyncio import Redis

from keyforge_hive.nodes.heartbeats import HeartbeatBatcher
from keyforge_hive.nodes.telemetry import encode_telemetry
from keyforge_shared.keys import Keys
from keyforge_shared.protocol.nodes import HeartbeatIn
from tests.conftest import ValkeyFixture
from tests.hive.conftest import ADMIN_HEADERS, HivePair, register

NODES = 10_000
keys = Keys()


async def seed_live_nodes(valkey: ValkeyFixture, count: int) -> list[HeartbeatIn]:
    """Register ``count`` nodes in Valkey and store one heartbeat each, through the hive's
    own batcher, as the hive user."""
    client = Redis.from_url(valkey.url("hive"))
    batcher = HeartbeatBatcher(client, keys, lambda: 300, lambda beats, now: None)
    flushing = asyncio.create_task(batcher.run())
    beats = [
        HeartbeatIn(
            ips=float(1000 + i),
            temperature_c=40.0 + (i % 30),
            ram_used_bytes=i,
            ram_total_bytes=2 * i,
        )
        for i in range(count)
    ]
    try:
        for start in range(0, count, 1000):
            async with client.pipeline(transaction=False) as pipe:
                for i in range(start, start + 1000):
                    pipe.hset(keys.node_registry(), f"node-{i}", b"1")
                await pipe.execute()
        await asyncio.gather(
            *(
                batcher.update_heartbeat(f"node-{i}", encode_telemetry(b), None)
                for i, b in enumerate(beats)
            )
        )
    finally:
        flushing.cancel()
        await client.aclose()
    return beats


async def test_cluster_stats_over_ten_thousand_live_nodes(
    hives: HivePair, valkey: ValkeyFixture
) -> None:
    beats = await seed_live_nodes(valkey, NODES)
    await register(hives.a, "real-node")
    await hives.a.post("/nodes/real-node/drain", headers=ADMIN_HEADERS)
    stats = (await hives.b.get("/cluster/stats")).json()
    assert stats["nodes_online"] == NODES + 1
    assert stats["nodes_draining"] == 1
    assert stats["total_ips"] == math.fsum(b.ips for b in beats)
    temps = [b.temperature_c for b in beats if b.temperature_c is not None]
    assert stats["avg_temperature_c"] == math.fsum(temps) / len(temps)
    assert stats["ram_used_bytes"] == sum(b.ram_used_bytes or 0 for b in beats)
    assert stats["ram_total_bytes"] == sum(b.ram_total_bytes or 0 for b in beats)
    assert stats["jobs_active"] == 0
    assert stats["as_of"]


async def test_stats_are_public_and_empty_fleet_is_zero(hives: HivePair) -> None:
    stats = (await hives.a.get("/cluster/stats")).json()
    assert stats["nodes_online"] == 0
    assert stats["total_ips"] == 0
    assert stats["avg_temperature_c"] is None
