"""Valkey losing its data, two managers sharing one fleet, and old content collected."""

from __future__ import annotations

import asyncio
import shutil
import time
from pathlib import Path

import httpx
import pytest
from redis.asyncio import Redis

from keyforge_assetmgr.app import create_app as create_manager_app
from keyforge_assetmgr.disk import list_asset_files
from keyforge_assetmgr.store import AssetStore, LockLost
from keyforge_shared.asset_store import ManifestEntry
from keyforge_shared.connect import connect_valkey
from keyforge_shared.keys import Keys
from keyforge_shared.loops import stop_tasks
from tests.assetmgr.harness import (
    manager_settings,
    running_gateway,
    running_manager,
    sha256_hex,
    wait_for_sha,
    write_file,
)
from tests.conftest import ValkeyFixture, start_valkey
from tests.support import serve_app, wait_until

keys = Keys()
SYSTEM = Path(__file__).resolve().parents[2] / "data" / "system"


async def everything_served(
    gateway: httpx.AsyncClient, root: Path, not_epoch: str | None = None
) -> bool:
    expected = {rel: sha256_hex((root / rel).read_bytes()) for rel in list_asset_files(root)}
    response = await gateway.get("/manifest")
    if response.status_code != 200 or response.json()["files"] != expected:
        return False
    if not_epoch is not None and response.json()["epoch"] in (None, not_epoch):
        return False
    for rel, sha256 in expected.items():
        body = await gateway.get(f"/data/{rel}")
        if body.status_code != 200 or sha256_hex(body.content) != sha256:
            return False
    return True


async def test_flushall_is_repaired_without_restarting_anything(
    valkey: ValkeyFixture, valkey_admin: Redis, tmp_path: Path
) -> None:
    root = tmp_path / "system"
    shutil.copytree(SYSTEM, root)
    # The production epoch check interval: the 10 s bound must hold with it.
    settings = manager_settings(
        valkey_url=valkey.url("assetmgr"), assets_dir=root, KEYFORGE_ASSET_EPOCH_CHECK_S=1.0
    )
    async with running_manager(settings), running_gateway(valkey.url("assets")) as gateway:
        await wait_until(lambda: everything_served(gateway, root), timeout_s=15)
        epoch = (await gateway.get("/manifest")).json()["epoch"]
        await valkey_admin.flushall()
        flushed = time.perf_counter()
        # A new epoch says the manager noticed the loss and published everything again.
        await wait_until(
            lambda: everything_served(gateway, root, not_epoch=epoch), timeout_s=10, interval_s=0.1
        )
        recovered_s = time.perf_counter() - flushed
    print(f"\nFLUSHALL -> manifest and every asset served again in {recovered_s:.2f} s")


async def test_a_valkey_restart_without_persistence_is_repaired(tmp_path: Path) -> None:
    private = start_valkey(tmp_path / "valkey")
    root = tmp_path / "assets"
    write_file(root / "weights" / "w.json", b'{"a": 1}')
    try:
        settings = manager_settings(valkey_url=private.url("assetmgr"), assets_dir=root)
        async with running_manager(settings), running_gateway(private.url("assets")) as gateway:
            await wait_until(lambda: everything_served(gateway, root), timeout_s=15)
            epoch = (await gateway.get("/manifest")).json()["epoch"]
            private.server.stop()
            private.server.start()
            await wait_until(
                lambda: everything_served(gateway, root, not_epoch=epoch),
                timeout_s=10,
                interval_s=0.1,
            )
    finally:
        private.server.stop()


async def test_one_manager_is_active_and_a_standby_takes_over(
    valkey: ValkeyFixture, valkey_admin: Redis, tmp_path: Path
) -> None:
    write_file(tmp_path / "a.txt", b"one")
    settings = manager_settings(valkey_url=valkey.url("assetmgr"), assets_dir=tmp_path)
    first, second = create_manager_app(settings), create_manager_app(settings)
    async with serve_app(first), running_gateway(valkey.url("assets")) as gateway:
        await wait_for_sha(gateway, "a.txt", sha256_hex(b"one"))
        async with serve_app(second):
            await asyncio.sleep(0.5)
            assert first.state.manager.state.role == "active"
            assert second.state.manager.state.role == "standby"
            lock = await valkey_admin.get(keys.asset_manager_lock())
            assert lock == first.state.manager.state.token.encode()
            # Stop the first manager's loop as its shutdown would: the lock is released.
            await stop_tasks([first.state.manager.task])
            write_file(tmp_path / "a.txt", b"two")
            await wait_for_sha(gateway, "a.txt", sha256_hex(b"two"))
            assert second.state.manager.state.role == "active"


async def test_unreferenced_content_is_collected_after_the_grace_period(
    valkey: ValkeyFixture, valkey_admin: Redis, tmp_path: Path
) -> None:
    settings = manager_settings(
        valkey_url=valkey.url("assetmgr"),
        assets_dir=tmp_path,
        KEYFORGE_ASSET_GC_GRACE_S=0.5,
        KEYFORGE_ASSET_GC_INTERVAL_S=0.2,
    )
    old, new = b"old" * 100_000, b"new"
    write_file(tmp_path / "f.bin", old)
    async with running_manager(settings), running_gateway(valkey.url("assets")) as gateway:
        await wait_for_sha(gateway, "f.bin", sha256_hex(old))
        write_file(tmp_path / "f.bin", new)
        await wait_for_sha(gateway, "f.bin", sha256_hex(new))
        # Within the grace period the old content is still readable by hash.
        assert (await gateway.get(f"/by-hash/{sha256_hex(old)}")).content == old

        async def collected() -> bool:
            return not await valkey_admin.exists(keys.asset_blob(sha256_hex(old)),
                                                 keys.asset_chunk(sha256_hex(old), 0))  # fmt: skip

        await wait_until(collected, timeout_s=5)
        assert (await gateway.get("/f.bin")).content == new
        assert await valkey_admin.hgetall(keys.asset_refs()) == {sha256_hex(new).encode(): b"1"}


async def test_writes_are_fenced_by_the_manager_lock(
    valkey: ValkeyFixture, valkey_admin: Redis
) -> None:
    client = await connect_valkey(valkey.url("assetmgr"), client_name="test", attempts=1)
    try:
        await valkey_admin.set(keys.asset_manager_lock(), "someone-else")
        store = AssetStore(client, keys, token="me")
        sha = sha256_hex(b"x")
        await store.store_blob(sha, b"x", "text/plain", time.time())
        entry = ManifestEntry(sha, 1, "text/plain", "2026-01-01T00:00:00+00:00")
        with pytest.raises(LockLost):
            await store.swap_entry("x.txt", entry, time.time())
        with pytest.raises(LockLost):
            await store.remove_entry("x.txt", time.time())
        assert await valkey_admin.hlen(keys.asset_manifest()) == 0
    finally:
        await client.aclose()
