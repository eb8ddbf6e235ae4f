"""The gateway cannot write Valkey and never opens a file under the assets dir."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest
from redis.asyncio import Redis
from redis.exceptions import NoPermissionError

from keyforge_shared.connect import connect_valkey
from keyforge_shared.keys import Keys
from tests.assetmgr.harness import manager_settings, running_manager, sha256_hex, write_file
from tests.conftest import ValkeyFixture
from tests.support import running_gateway_process

keys = Keys()


async def test_gateway_credentials_answer_noperm_to_writes(
    valkey: ValkeyFixture, valkey_admin: Redis
) -> None:
    gateway = await connect_valkey(valkey.url("assets"), client_name="test-assets", attempts=1)
    try:
        attempts = [
            gateway.set(keys.asset_manifest(), b"x"),
            gateway.delete(keys.asset_manifest()),
            gateway.hset(keys.asset_manifest(), "a", "b"),
            gateway.publish(f"{keys.prefix}asset:updates", b"x"),
            gateway.flushdb(),
            gateway.flushall(),
            gateway.config_get("*"),
            gateway.config_set("maxmemory", "1"),
            gateway.execute_command("SET", keys.asset_epoch(), "x"),  # type: ignore[no-untyped-call]
            gateway.eval("return 1", 0),
        ]
        for write in attempts:
            with pytest.raises(NoPermissionError):
                await write
    finally:
        await gateway.aclose()


def open_paths(pid: int) -> list[str]:
    fd_dir = Path(f"/proc/{pid}/fd")
    paths = []
    for fd in fd_dir.iterdir():
        try:
            paths.append(os.readlink(fd))
        except FileNotFoundError:
            continue  # closed while we looked
    return paths


async def test_gateway_process_opens_nothing_under_the_assets_dir(
    valkey: ValkeyFixture, valkey_admin: Redis, tmp_path: Path
) -> None:
    assets = tmp_path / "assets"
    payload = os.urandom(300_000)
    write_file(assets / "corpora" / "x" / "words.txt", payload)
    settings = manager_settings(valkey_url=valkey.url("assetmgr"), assets_dir=assets)
    async with (
        running_manager(settings),
        running_gateway_process(valkey.url("assets"), tmp_path, "/data/corpora/x/words.txt") as (
            process,
            client,
        ),
    ):
        for _ in range(5):
            response = await client.get("/corpora/x/words.txt")
            assert sha256_hex(response.content) == sha256_hex(payload)
            seen = open_paths(process.pid)
            assert seen, "expected at least the standard streams"
            assert not [p for p in seen if p.startswith(str(assets))], seen
            await asyncio.sleep(0.05)
