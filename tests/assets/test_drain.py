"""A SIGTERM'd gateway drains before it stops, like a hive (keyforge_shared.shutdown)."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path

from redis.asyncio import Redis

from tests.assetmgr.harness import manager_settings, running_manager, sha256_hex, write_file
from tests.conftest import ValkeyFixture
from tests.support import running_gateway_process


async def test_sigterm_drains_before_the_gateway_stops(
    valkey: ValkeyFixture, valkey_admin: Redis, tmp_path: Path
) -> None:
    assets = tmp_path / "assets"
    payload = os.urandom(70_000)
    write_file(assets / "corpora" / "drain" / "words.txt", payload)
    settings = manager_settings(valkey_url=valkey.url("assetmgr"), assets_dir=assets)
    path = "/corpora/drain/words.txt"
    async with (
        running_manager(settings),
        running_gateway_process(valkey.url("assets"), tmp_path, path, KEYFORGE_DRAIN_S="30") as (
            process,
            client,
        ),
    ):
        assert (await client.get("/readyz")).status_code == 200

        process.send_signal(signal.SIGTERM)
        await asyncio.sleep(1.0)
        assert process.poll() is None
        not_ready = await client.get("/readyz")
        assert not_ready.status_code == 503
        assert not_ready.json()["error"] == "draining"
        asset = await client.get(path)
        assert asset.status_code == 200
        assert sha256_hex(asset.content) == sha256_hex(payload)
        assert asset.headers["connection"] == "close"

        # A second signal skips the rest of the drain.
        signalled = time.monotonic()
        process.send_signal(signal.SIGTERM)
        await asyncio.to_thread(process.wait, 15)
        assert time.monotonic() - signalled < 10
