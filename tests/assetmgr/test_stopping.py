"""A stopped manager stops, even when its active term fails as it is being cancelled."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from redis.asyncio import Redis

from keyforge_assetmgr import runner
from keyforge_assetmgr.store import LockLost
from keyforge_shared.connect import connect_valkey
from keyforge_shared.keys import Keys
from tests.assetmgr.harness import manager_settings
from tests.conftest import ValkeyFixture

keys = Keys()


async def test_a_term_failing_while_cancelled_does_not_keep_the_manager_running(
    valkey: ValkeyFixture, valkey_admin: Redis, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    in_term = asyncio.Event()

    async def lock_keeper_that_fails_when_cancelled(*_: object) -> None:
        # A task of the active term that raises instead of stopping (the lock
        # found gone just then): the manager must stop all the same.
        in_term.set()
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            raise LockLost("lock lost while stopping") from None

    monkeypatch.setattr(runner, "keep_lock", lock_keeper_that_fails_when_cancelled)
    settings = manager_settings(valkey_url=valkey.url("assetmgr"), assets_dir=tmp_path)
    client = await connect_valkey(valkey.url("assetmgr"), client_name="test-stopping", attempts=1)
    try:
        manager = asyncio.create_task(
            runner.run_manager(settings, client, keys, runner.ManagerState())
        )
        await asyncio.wait_for(in_term.wait(), 10)
        assert await valkey_admin.exists(keys.asset_manager_lock())

        manager.cancel()
        done, _ = await asyncio.wait([manager], timeout=5)
        assert manager in done, "the manager kept running after it was cancelled"
        assert manager.cancelled()
        assert not await valkey_admin.exists(keys.asset_manager_lock())  # released on the way
    finally:
        manager.cancel()
        await client.aclose()
