"""Node status over time, with a short TTL (3 s), grace (1 s) and so a 1 s beat interval."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
from redis.asyncio import Redis

from keyforge_shared.protocol import headers as wire
from tests.conftest import ValkeyFixture
from tests.hive.conftest import ADMIN_HEADERS, beat, register, running_hives, set_runtime_settings
from tests.support import SseReader, wait_until

TTL_S, GRACE_S = 3, 1
DOWN_AFTER_S = TTL_S + GRACE_S


async def status_of(client: httpx.AsyncClient, node_id: str) -> str:
    nodes: list[dict[str, Any]] = (await client.get("/nodes", headers=ADMIN_HEADERS)).json()
    status: str = next(n["status"] for n in nodes if n["node_id"] == node_id)
    return status


async def short_ttl(database_url: str) -> None:
    await set_runtime_settings(
        database_url, heartbeat_ttl_s=TTL_S, heartbeat_grace_s=GRACE_S, last_seen_flush_s=10
    )


async def test_down_after_ttl_plus_grace_and_not_before(
    database_url: str, valkey: ValkeyFixture, valkey_admin: Redis
) -> None:
    await short_ttl(database_url)
    async with running_hives(database_url, valkey) as (a, b):
        await register(a, "n1")
        # Let the hives pass their own start-up window first.
        await asyncio.sleep(DOWN_AFTER_S)
        assert (await beat(a, "n1")).headers[wire.HEARTBEAT_INTERVAL] == "1"
        await asyncio.sleep(1.5)  # one beat 1.5 intervals late
        await beat(b, "n1")
        last_beat = time.monotonic()
        async with a.stream("GET", "/events") as response:
            events = SseReader(response)
            await asyncio.sleep(TTL_S)  # silent for the whole TTL: not down yet
            assert await status_of(a, "n1") == "ready"
            event = await events.next_event(timeout_s=DOWN_AFTER_S + 3)
            went_down_after = time.monotonic() - last_beat
        assert event.event == "node_status"
        assert event.data == {"node_id": "n1", "status": "down"}
        assert went_down_after >= DOWN_AFTER_S
        assert await status_of(b, "n1") == "down"
        stats = (await b.get("/cluster/stats")).json()
        assert stats["nodes_online"] == 0
        # It comes back by beating again.
        assert (await beat(b, "n1")).status_code == 204
        assert await status_of(a, "n1") == "ready"


async def test_no_node_goes_down_before_a_full_window_after_the_hives_restart(
    database_url: str, valkey: ValkeyFixture, valkey_admin: Redis
) -> None:
    await short_ttl(database_url)
    async with running_hives(database_url, valkey) as (a, _):
        await register(a, "n1")
    await asyncio.sleep(DOWN_AFTER_S + 1)  # every hive down longer than TTL + grace
    restarted = time.monotonic()
    async with running_hives(database_url, valkey) as (a, _):
        await asyncio.sleep(max(0.0, DOWN_AFTER_S - 1.5 - (time.monotonic() - restarted)))
        assert await status_of(a, "n1") == "ready"

        async def is_down() -> bool:
            return await status_of(a, "n1") == "down"

        await wait_until(is_down, timeout_s=DOWN_AFTER_S + 3)
        assert time.monotonic() - restarted >= DOWN_AFTER_S


async def test_valkey_data_loss_reseeds_and_waits_a_full_window(
    database_url: str, valkey: ValkeyFixture, valkey_admin: Redis
) -> None:
    await short_ttl(database_url)
    async with running_hives(database_url, valkey) as (a, _):
        await register(a, "n1")
        await register(a, "n2")
        await a.post("/nodes/n2/drain", headers=ADMIN_HEADERS)
        await asyncio.sleep(DOWN_AFTER_S)
        await beat(a, "n1")
        await beat(a, "n2")
        await valkey_admin.flushall()
        lost = time.monotonic()

        async def reseeded() -> bool:
            return await status_of(a, "n1") == "ready"

        await wait_until(reseeded, timeout_s=3)
        assert await status_of(a, "n2") == "draining"  # the operator's drain survives
        await asyncio.sleep(max(0.0, DOWN_AFTER_S - 1.5 - (time.monotonic() - lost)))
        assert await status_of(a, "n1") == "ready"

        async def both_down() -> bool:
            return {await status_of(a, "n1"), await status_of(a, "n2")} == {"down"}

        await wait_until(both_down, timeout_s=DOWN_AFTER_S + 3)
        assert time.monotonic() - lost >= DOWN_AFTER_S
        # Nodes re-register after the loss and are live again, n2 still drained.
        assert (await beat(a, "n1")).status_code == 404
        await register(a, "n2")
        assert await status_of(a, "n2") == "draining"
