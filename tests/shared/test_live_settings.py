"""The settings follower: applies announcements, ignores stale ones, and stops when cancelled."""

from __future__ import annotations

import asyncio
import contextlib

import pytest
from redis.asyncio import Redis

from keyforge_shared.connect import connect_valkey
from keyforge_shared.keys import Keys
from keyforge_shared.live_settings import (
    BACKSTOP_S,
    RuntimeView,
    announce_settings,
    encode_settings,
    follow_settings,
)
from keyforge_shared.runtime_settings import RuntimeSettings
from tests.conftest import ValkeyFixture
from tests.support import wait_until

KEYS = Keys()


def test_an_older_version_never_replaces_a_newer_one() -> None:
    view = RuntimeView(RuntimeSettings(), version=5)
    assert not view.offer(4, RuntimeSettings(lease_s=600))
    assert view.current.lease_s == 300
    assert view.offer(6, RuntimeSettings(lease_s=600))
    assert not view.offer_payload(b"not json")
    assert not view.offer_payload(encode_settings(7, RuntimeSettings()).replace("300", "1"))
    assert view.current.lease_s == 600


async def test_announce_keeps_the_newest_version(valkey_admin: Redis) -> None:
    assert await announce_settings(valkey_admin, KEYS, 10, RuntimeSettings(lease_s=600))
    assert not await announce_settings(valkey_admin, KEYS, 9, RuntimeSettings(lease_s=900))
    assert not await announce_settings(valkey_admin, KEYS, 10, RuntimeSettings(lease_s=600))
    assert b'"lease_s":600' in (await valkey_admin.get(KEYS.runtime_settings()) or b"")


async def test_a_follower_cancelled_while_it_connects_still_stops(valkey: ValkeyFixture) -> None:
    client = await connect_valkey(valkey.url("hive"), client_name="follower", attempts=1)
    try:
        for _ in range(5):
            task = asyncio.create_task(
                follow_settings(client, KEYS, RuntimeView(RuntimeSettings()))
            )
            await asyncio.sleep(0)  # it is now inside SUBSCRIBE's connect
            task.cancel()
            done, _ = await asyncio.wait([task], timeout=1 + BACKSTOP_S)
            assert task in done
            assert task.cancelled()
    finally:
        await client.aclose()


@pytest.mark.parametrize("delay_s", [0.0, 0.05, 0.3, 1.2])
async def test_the_follower_applies_then_stops_when_cancelled(
    valkey: ValkeyFixture, valkey_admin: Redis, delay_s: float
) -> None:
    reader = Redis.from_url(valkey.url("assets"))  # the gateway's read-only user
    view = RuntimeView(RuntimeSettings())
    task = asyncio.create_task(follow_settings(reader, KEYS, view))
    try:
        await announce_settings(valkey_admin, KEYS, 1, RuntimeSettings(lease_s=700))

        async def applied() -> bool:
            return view.current.lease_s == 700

        await wait_until(applied, timeout_s=2)
        await asyncio.sleep(delay_s)
        task.cancel()
        # A cancelled follower ends at once, wherever the cancel found it.
        done, _ = await asyncio.wait([task], timeout=2)
        assert task in done
        assert task.cancelled()
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await reader.aclose()
