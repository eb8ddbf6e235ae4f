"""Each service's Valkey user can do its job and nothing more (real server, real ACLs)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest
from redis.asyncio import Redis
from redis.exceptions import AuthenticationError, NoPermissionError, ResponseError

from keyforge_shared.connect import connect_valkey
from keyforge_shared.keys import Keys
from tests.conftest import ValkeyFixture

keys = Keys()


async def client_for(valkey: ValkeyFixture, user: str) -> Redis:
    return await connect_valkey(valkey.url(user), client_name=f"test-{user}", attempts=1)


async def test_hive_writes_fleet_and_events_but_only_reads_assets(
    valkey: ValkeyFixture, valkey_admin: Redis
) -> None:
    await valkey_admin.set(keys.asset_manifest(), b"{}")
    hive = await client_for(valkey, "hive")
    try:
        await hive.set(keys.heartbeat("n1"), b"{}", ex=30)
        await hive.zadd(keys.live_nodes(), {"n1": 1.0})
        await hive.xadd(keys.event_log(), {"type": "node_status"}, maxlen=1000)
        assert await hive.get(keys.asset_manifest()) == b"{}"
        with pytest.raises(NoPermissionError):
            await hive.set(keys.asset_manifest(), b"tampered")
        with pytest.raises(NoPermissionError):
            await hive.flushall()
        with pytest.raises(NoPermissionError):
            await hive.keys("*")
    finally:
        await hive.aclose()


async def test_gateway_user_cannot_write_anything(
    valkey: ValkeyFixture, valkey_admin: Redis
) -> None:
    await valkey_admin.set(keys.asset_chunk("ab" * 32, 0), b"bytes")
    gateway = await client_for(valkey, "assets")
    try:
        assert await gateway.get(keys.asset_chunk("ab" * 32, 0)) == b"bytes"
        for write in (
            gateway.set(keys.asset_manifest(), b"x"),
            gateway.delete(keys.asset_chunk("ab" * 32, 0)),
            gateway.set(keys.heartbeat("n1"), b"x"),
            gateway.xadd(keys.event_log(), {"a": "b"}),
        ):
            with pytest.raises(NoPermissionError):
                await write
        with pytest.raises(NoPermissionError):
            await gateway.get(keys.heartbeat("n1"))
    finally:
        await gateway.aclose()


async def test_assetmgr_writes_assets_and_its_own_events_not_fleet_state(
    valkey: ValkeyFixture, valkey_admin: Redis
) -> None:
    manager = await client_for(valkey, "assetmgr")
    try:
        async with manager.pipeline(transaction=True) as tx:
            tx.set(keys.asset_chunk("cd" * 32, 0), b"bytes")
            tx.hset(keys.asset_manifest(), "a.json", "cd" * 32)
            await tx.execute()
        await manager.xadd(keys.asset_events(), {"type": "asset_update", "data": "{}"})
        assert await manager.xlen(keys.event_log()) == 0  # it reads the log, cannot write it
        with pytest.raises(NoPermissionError):
            await manager.set(keys.heartbeat("n1"), b"x")
    finally:
        await manager.aclose()


async def test_default_user_is_disabled(valkey: ValkeyFixture) -> None:
    anonymous = Redis(port=valkey.server.port)
    try:
        with pytest.raises((AuthenticationError, ResponseError)):
            await anonymous.ping()
    finally:
        await anonymous.aclose()


def forbidden_writes(client: Redis, user: str) -> dict[str, Callable[[], Awaitable[object]]]:
    """Every write a user of ``user``'s role must not make, by what it would forge."""
    settings = b'{"version": 99999999999999999, "settings": {"result_retention_days": 1}}'
    writes: dict[str, Callable[[], Awaitable[object]]] = {
        "settings announcement (key)": lambda: client.set(keys.runtime_settings(), settings),
        "settings announcement (channel)": lambda: client.publish(
            keys.settings_channel(), settings
        ),
        "any other channel": lambda: client.publish(keys.event_log(), b"x"),
        "fleet state": lambda: client.set(keys.heartbeat("n1"), b"x"),
        "node registry": lambda: client.hset(keys.node_registry(), "n1", b"x"),
        "job queue": lambda: client.zadd(keys.job_queue(), {"j": 1.0}),
        "flush": client.flushall,
    }
    if user in ("assets", "assetmgr"):
        # The event stream is the hives' alone: a job or node event forged here would
        # reach every SSE client; the relay's cursor would drop or repeat asset events.
        writes["event log"] = lambda: client.xadd(
            keys.event_log(), {"type": "job_status", "data": '{"job_id": "j", "status": "done"}'}
        )
        writes["event log trim"] = lambda: client.xtrim(keys.event_log(), maxlen=0)
        writes["event log delete"] = lambda: client.delete(keys.event_log())
        writes["relay cursor"] = lambda: client.set(keys.asset_events_relayed(), b"9999999999999-0")
    if user == "assets":
        writes["asset manifest"] = lambda: client.set(keys.asset_manifest(), b"x")
        writes["asset events"] = lambda: client.xadd(keys.asset_events(), {"type": "x"})
    if user == "hive":
        writes = {
            "asset manifest": lambda: client.set(keys.asset_manifest(), b"x"),
            "asset lock": lambda: client.set(keys.asset_manager_lock(), b"x"),
            "asset events": lambda: client.xadd(keys.asset_events(), {"type": "asset_update"}),
            "flush": client.flushall,
        }
    return writes


@pytest.mark.parametrize("user", ["hive", "assets", "assetmgr"])
async def test_every_forbidden_write_is_noperm(
    valkey: ValkeyFixture, valkey_admin: Redis, user: str
) -> None:
    client = await client_for(valkey, user)
    try:
        for what, write in forbidden_writes(client, user).items():
            try:
                await write()
            except NoPermissionError:
                continue
            pytest.fail(f"{user} could write: {what}")
        assert await valkey_admin.get(keys.runtime_settings()) is None
        assert await valkey_admin.xlen(keys.event_log()) == 0
    finally:
        await client.aclose()


async def test_assetmgr_still_follows_settings_and_appends_its_events(
    valkey: ValkeyFixture, valkey_admin: Redis
) -> None:
    await valkey_admin.set(keys.runtime_settings(), b"{}")
    manager = await client_for(valkey, "assetmgr")
    try:
        assert await manager.get(keys.runtime_settings()) == b"{}"
        pubsub = manager.pubsub()
        await pubsub.subscribe(keys.settings_channel())
        await pubsub.unsubscribe()
        await pubsub.aclose()  # type: ignore[no-untyped-call]
        await manager.xadd(keys.asset_events(), {"type": "asset_update", "data": "{}"})
        await manager.xrange(keys.event_log())  # it may still read the log
    finally:
        await manager.aclose()
