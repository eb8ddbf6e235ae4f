"""``get_cluster_stats`` latency with 10 000 live nodes (target < 50 ms), next to the
cost of the same aggregate done the naive way (a full SCAN over heartbeat keys).

    .venv/bin/python -m bench.cluster_stats [--nodes 10000] [--runs 50]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

import asyncpg
from redis.asyncio import Redis

from bench.servers import Backends, backends
from keyforge_hive.nodes.cluster_stats import get_cluster_stats
from keyforge_hive.nodes.heartbeats import HeartbeatBatcher
from keyforge_hive.nodes.telemetry import encode_telemetry
from keyforge_shared.keys import Keys
from keyforge_shared.protocol.nodes import HeartbeatIn


async def seed(valkey: Redis, keys: Keys, count: int) -> None:
    batcher = HeartbeatBatcher(valkey, keys, lambda: 600, lambda beats, now: None)
    flushing = asyncio.create_task(batcher.run())
    try:
        async with valkey.pipeline(transaction=False) as pipe:
            for i in range(count):
                pipe.hset(keys.node_registry(), f"node-{i}", b"1")
            await pipe.execute()
        telemetry = [
            encode_telemetry(
                HeartbeatIn(
                    ips=1e6 + i, temperature_c=50.0, ram_used_bytes=i, ram_total_bytes=2 * i
                )
            )
            for i in range(count)
        ]
        await asyncio.gather(
            *(batcher.update_heartbeat(f"node-{i}", t, None) for i, t in enumerate(telemetry))
        )
    finally:
        flushing.cancel()


async def naive_scan_stats(valkey: Redis, keys: Keys) -> int:
    """What the live index avoids: walk the whole keyspace for heartbeat keys."""
    pattern = keys.heartbeat("*").rsplit(":", 2)[0] + ":*"
    found = 0
    async for key in valkey.scan_iter(match=pattern, count=1000):
        found += await valkey.get(key) is not None
    return found


def summary(samples: list[float]) -> str:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return f"p50 {statistics.median(ordered):7.2f} ms   p99 {p99:7.2f} ms"


async def measure(args: argparse.Namespace, back: Backends) -> None:
    keys = Keys()
    hive = Redis.from_url(back.valkey_url("hive"))
    admin = Redis.from_url(back.valkey_url("admin"))
    pool = await asyncpg.create_pool(back.postgres.dsn(), min_size=1, max_size=2)
    try:
        await seed(hive, keys, args.nodes)
        timings = []
        for _ in range(args.runs):
            started = time.perf_counter()
            stats = await get_cluster_stats(hive, keys, pool, down_after_s=600)
            timings.append((time.perf_counter() - started) * 1000)
        assert stats.nodes_online == args.nodes, stats
        naive = []
        for _ in range(max(3, args.runs // 10)):
            started = time.perf_counter()
            found = await naive_scan_stats(admin, keys)
            naive.append((time.perf_counter() - started) * 1000)
        assert found == args.nodes
        print(f"cluster stats over {args.nodes} live nodes, {args.runs} runs")
        print(f"  live index (ours)   {summary(timings)}   (target p99 < 50 ms)")
        print(f"  full SCAN + GETs    {summary(naive)}")
        ratio = statistics.median(naive) / statistics.median(timings)
        print(f"  naive / ours = {ratio:.1f}x")
    finally:
        await pool.close()
        await hive.aclose()
        await admin.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--nodes", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=50)
    args = parser.parse_args()
    with backends() as back:
        asyncio.run(measure(args, back))


if __name__ == "__main__":
    main()
