"""The asset manager's events reach the event log through the hives, each exactly once."""

from __future__ import annotations

import asyncio
import json

from redis.asyncio import Redis

from keyforge_hive.events.relay import AssetRelay
from keyforge_shared.events import events_after, publish_asset_update
from keyforge_shared.keys import Keys
from tests.conftest import ValkeyFixture
from tests.hive.conftest import HivePair
from tests.support import SseReader, wait_until

keys = Keys()


async def logged_types(valkey: Redis) -> list[str]:
    return [e.type for e in await events_after(valkey, keys, "0-0", 1000)]


async def test_an_asset_update_reaches_clients_of_both_hives_once(
    hives: HivePair, valkey: ValkeyFixture
) -> None:
    manager = Redis.from_url(valkey.url("assetmgr"))
    update = {"path": "weights/w.json", "action": "put", "sha256": "ab" * 32}
    try:
        async with (
            hives.a.stream("GET", "/events") as on_a,
            hives.b.stream("GET", "/events") as on_b,
        ):
            await asyncio.sleep(0.3)  # both streams are live
            # As a compromised asset manager would try: a job event and a framed
            # injection on its own stream are never copied; the real update is.
            await manager.xadd(keys.asset_events(), {"type": "job_status", "data": '{"a":1}'})
            forged = '{"path":"x"}\n\nevent: job_status\ndata: {"job_id":"j"}'
            await manager.xadd(keys.asset_events(), {"type": "asset_update", "data": forged})
            await manager.xadd(keys.asset_events(), {"type": "asset_update", "data": "[1]"})
            await publish_asset_update(manager, keys, update)
            for response in (on_a, on_b):
                event = await SseReader(response).next_event(timeout_s=10)
                assert (event.event, event.data) == ("asset_update", update)
    finally:
        await manager.aclose()
    # Both hives relayed and keep relaying; the log holds the update once, nothing else.
    await asyncio.sleep(0.5)
    assert await logged_types(hives.valkey) == ["asset_update"]
    (logged,) = await events_after(hives.valkey, keys, "0-0", 10)
    assert logged.data == update


async def test_concurrent_relays_copy_each_entry_exactly_once_in_order(
    valkey: ValkeyFixture, valkey_admin: Redis
) -> None:
    manager = Redis.from_url(valkey.url("assetmgr"))
    hives = [Redis.from_url(valkey.url("hive")) for _ in range(4)]
    relays = [AssetRelay(client, keys) for client in hives]
    try:

        async def publish() -> None:
            for i in range(300):
                await publish_asset_update(manager, keys, {"path": f"p{i}", "action": "put"})

        async def relay_until_done() -> None:
            async def copied_all() -> bool:
                await asyncio.gather(*(r.relay() for r in relays))
                return await valkey_admin.xlen(keys.event_log()) >= 300

            await wait_until(copied_all, timeout_s=20, interval_s=0.001)

        await asyncio.gather(publish(), relay_until_done())
        await asyncio.gather(*(r.relay() for r in relays))  # nothing left: copies nothing
    finally:
        await manager.aclose()
        for client in hives:
            await client.aclose()
    logged = await events_after(valkey_admin, keys, "0-0", 1000)
    assert [e.data["path"] for e in logged] == [f"p{i}" for i in range(300)]
    assert {e.type for e in logged} == {"asset_update"}
    # The copy is the same event: the same fields, as the assets' own stream holds them.
    (first,) = await events_after(valkey_admin, keys, "0-0", 1, stream=keys.asset_events())
    assert json.dumps(first.data) == json.dumps(logged[0].data)
