from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import asyncpg
from redis.asyncio import Redis

from keyforge_shared.keys import Keys
from keyforge_shared.protocol import headers as wire
from keyforge_swarm.fasthttp import FastHttpClient
from tests.conftest import ValkeyFixture
from tests.hive.conftest import NODE_HEADERS, HivePair, beat, hive_processes, node_headers, register
from tests.support import wait_until

keys = Keys()


async def test_unknown_node_gets_404_unknown_node(hives: HivePair) -> None:
    # Whatever token it holds (after a Valkey data loss, its own): the node registers again.
    headers = {**NODE_HEADERS, wire.NODE_TOKEN: "a-token-this-fleet-never-issued"}
    response = await hives.a.post(
        "/nodes/never-registered/heartbeat", json={"ips": 1.0}, headers=headers
    )
    assert response.status_code == 404
    assert response.json()["error"] == "unknown_node"


async def test_heartbeat_is_stored_with_ttl_and_tells_the_interval(hives: HivePair) -> None:
    await register(hives.a, "n1")
    response = await hives.b.post(
        "/nodes/n1/heartbeat",
        json={
            "ips": 1234.5,
            "temperature_c": 61.5,
            "ram_used_bytes": 10,
            "ram_total_bytes": 20,
            "job_id": "a" * 64,
        },
        headers=node_headers("n1"),
    )
    assert response.status_code == 204
    assert response.headers[wire.HEARTBEAT_INTERVAL] == "10"
    ttl = await hives.valkey.ttl(keys.heartbeat("n1"))
    assert 25 <= ttl <= 30


async def test_heartbeat_validation(hives: HivePair) -> None:
    await register(hives.a, "n1")
    for bad in ({"ips": -1}, {"ips": "fast"}, {}, {"ips": 1, "temperature_c": 1000}):
        response = await hives.a.post("/nodes/n1/heartbeat", json=bad, headers=node_headers("n1"))
        assert response.status_code == 422, bad


async def test_valkey_data_loss_means_register_again(hives: HivePair) -> None:
    await register(hives.a, "n1")
    assert (await beat(hives.a, "n1")).status_code == 204
    await hives.valkey.flushall()
    assert (await beat(hives.a, "n1")).status_code == 404
    await register(hives.b, "n1")
    assert (await beat(hives.a, "n1")).status_code == 204


async def commits(database_url: str) -> int:
    """Committed transactions of the test database, as Postgres counts them."""
    name = database_url.rsplit("/", 1)[1]
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute("SELECT pg_stat_clear_snapshot()")
        value: int = await conn.fetchval(
            "SELECT xact_commit FROM pg_stat_database WHERE datname = $1", name
        )
        return value
    finally:
        await conn.close()


async def test_heartbeats_never_touch_postgres_on_the_request_path(
    database_url: str, valkey: ValkeyFixture, valkey_admin: Redis, tmp_path: Path
) -> None:
    nodes = [f"node-{i:03d}" for i in range(200)]
    async with hive_processes(database_url, valkey, tmp_path) as (a, b):
        await asyncio.gather(*(register(a, n) for n in nodes))
    # Backends that exit flush their statistics, so each count below is exact.
    # The control: the same two hives, up for as long, with no heartbeat at all.
    before = await commits(database_url)
    async with hive_processes(database_url, valkey, tmp_path) as (a, b):
        # A lean keep-alive client: httpx would spend more CPU than the hives.
        lean = [FastHttpClient(c.base_url.host, c.base_url.port or 80, size=32) for c in (a, b)]
        try:
            started = time.monotonic()
            replies = await asyncio.gather(
                *(
                    lean[i % 2].post_json(
                        f"/nodes/{nodes[i % 200]}/heartbeat",
                        {"ips": i},
                        node_headers(nodes[i % 200]),
                    )
                    for i in range(10_000)
                )
            )
            busy_s = time.monotonic() - started
        finally:
            for client in lean:
                await client.aclose()
        assert {r.status for r in replies} == {204}
    with_beats = await commits(database_url) - before
    before = await commits(database_url)
    async with hive_processes(database_url, valkey, tmp_path):
        await asyncio.sleep(busy_s)
    idle = await commits(database_url) - before
    # What 10 000 heartbeats added: the flusher's few batches, nothing per beat.
    assert with_beats - idle < 100, (with_beats, idle)
    conn = await asyncpg.connect(database_url)
    try:
        flushed = await conn.fetchval("SELECT count(*) FROM nodes WHERE last_seen IS NOT NULL")
    finally:
        await conn.close()
    assert flushed == 200


async def test_last_seen_is_flushed_in_batches(hives: HivePair) -> None:
    await register(hives.a, "n1")
    await register(hives.a, "n2")
    conn = await asyncpg.connect(hives.database_url)
    try:

        async def flushed() -> bool:
            n: int = await conn.fetchval("SELECT count(*) FROM nodes WHERE last_seen IS NOT NULL")
            return n == 2

        await wait_until(flushed, timeout_s=5)
        first: Any = await conn.fetchval("SELECT last_seen FROM nodes WHERE node_id = 'n1'")
        await beat(hives.a, "n1")
        await asyncio.sleep(1.5)
        # Within the flush interval a newer beat does not cause another write.
        assert await conn.fetchval("SELECT last_seen FROM nodes WHERE node_id = 'n1'") == first
    finally:
        await conn.close()
