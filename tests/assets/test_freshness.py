"""An edit on disk is served (bytes and ETag) within a second and announced over SSE."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import httpx
from redis.asyncio import Redis

from keyforge_hive.app import create_app as create_hive_app
from tests.assetmgr.harness import (
    manager_settings,
    running_gateway,
    running_manager,
    sha256_hex,
    wait_for_sha,
    write_file,
)
from tests.conftest import ValkeyFixture
from tests.support import hive_settings, serve_app

EDITS = 50


def weights(version: int) -> bytes:
    return json.dumps({"penalty_sfb_base": 400.0 + version, "edit": version}).encode()


async def served_after(client: httpx.AsyncClient, path: str, data: bytes, started: float) -> float:
    """Seconds from ``started`` until the gateway serves ``data`` with its ETag."""
    etag = f'"{sha256_hex(data)}"'
    while True:
        response = await client.get(path)
        if response.headers.get("etag") == etag:
            assert response.content == data
            return time.perf_counter() - started
        if time.perf_counter() - started > 10:
            raise AssertionError(f"edit not served within 10 s (serving {response.headers})")
        await asyncio.sleep(0.005)


async def test_edits_are_served_within_a_second(
    valkey: ValkeyFixture, valkey_admin: Redis, tmp_path: Path
) -> None:
    path = tmp_path / "weights" / "live.json"
    write_file(path, weights(0))
    # Production settle time: an edit is read once it has been quiet for 100 ms.
    settings = manager_settings(
        valkey_url=valkey.url("assetmgr"), assets_dir=tmp_path, KEYFORGE_ASSET_SETTLE_S=0.1
    )
    async with running_manager(settings), running_gateway(valkey.url("assets")) as gateway:
        await wait_for_sha(gateway, "weights/live.json", sha256_hex(weights(0)))
        latencies = []
        for version in range(1, EDITS + 1):
            data = weights(version)
            started = time.perf_counter()
            path.write_bytes(data)  # a plain in-place edit, as an editor saves
            latencies.append(await served_after(gateway, "/data/weights/live.json", data, started))
    latencies.sort()
    p50, p99 = latencies[len(latencies) // 2], latencies[int(len(latencies) * 0.99) - 1]
    print(f"\nedit-to-serve over {EDITS} edits: p50 {p50 * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms,"
          f" max {latencies[-1] * 1000:.0f} ms")  # fmt: skip
    assert p99 < 3.0  # the target is 1 s; this bound only catches a broken pipeline


async def test_an_asset_update_reaches_an_sse_client(
    valkey: ValkeyFixture, valkey_admin: Redis, database_url: str, tmp_path: Path
) -> None:
    write_file(tmp_path / "weights" / "w.json", weights(0))
    settings = manager_settings(valkey_url=valkey.url("assetmgr"), assets_dir=tmp_path)
    hive = create_hive_app(hive_settings(database_url=database_url, valkey_url=valkey.url("hive")))
    async with (
        running_manager(settings),
        serve_app(hive) as hive_url,
        httpx.AsyncClient(base_url=hive_url, timeout=15) as client,
        client.stream("GET", "/events") as stream,
    ):
        assert stream.status_code == 200
        await asyncio.sleep(0.3)  # the stream is open; now edit
        write_file(tmp_path / "weights" / "w.json", weights(1))
        data = await asyncio.wait_for(asset_update_for(stream, sha256_hex(weights(1))), 10)
        assert data["path"] == "weights/w.json"
        assert data["action"] == "put"


async def asset_update_for(stream: httpx.Response, sha256: str) -> dict[str, object]:
    """The data of the first ``asset_update`` event about this content."""
    event_type = ""
    async for line in stream.aiter_lines():
        if line.startswith("event:"):
            event_type = line.partition(":")[2].strip()
        elif line.startswith("data:") and event_type == "asset_update":
            data: dict[str, object] = json.loads(line.partition(":")[2])
            if data.get("sha256") == sha256:
                return data
    raise AssertionError("event stream ended")
