"""A running real node follows its layered config from the hive within a heartbeat."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from redis.asyncio import Redis

from keyforge_assets.app import create_app as create_gateway
from tests.conftest import ValkeyFixture
from tests.hive.conftest import (
    ADMIN_HEADERS,
    SYSTEM_ASSETS,
    publish_assets,
    running_hives,
    set_runtime_settings,
)
from tests.node.node_support import NodeProcess, ortho_job, start_node
from tests.support import NODE_SECRET, assets_settings, serve_app, wait_until

WORKERS = re.compile(r"working with (\d+) worker process\(es\) at niceness (\d+)")


def worker_plans(node: NodeProcess) -> list[tuple[int, int]]:
    return [(int(m.group(1)), int(m.group(2))) for m in WORKERS.finditer(node.log())]


@pytest.fixture
async def fleet(
    database_url: str, valkey: ValkeyFixture, valkey_admin: Redis
) -> AsyncIterator[tuple[httpx.AsyncClient, str, str]]:
    """One hive (beating every second) and a gateway serving data/system."""
    await set_runtime_settings(database_url, heartbeat_ttl_s=3, last_seen_flush_s=10)
    await publish_assets(valkey, SYSTEM_ASSETS)
    gateway = create_gateway(assets_settings(valkey_url=valkey.url("assets")))
    async with (
        running_hives(database_url, valkey, count=1) as (hive,),
        serve_app(gateway) as assets,
    ):
        yield hive, str(hive.base_url).rstrip("/"), assets


async def put_layer(hive: httpx.AsyncClient, path: str, layer: dict[str, object]) -> None:
    response = await hive.put(path, json=layer, headers=ADMIN_HEADERS)
    assert response.status_code == 200, response.text


async def test_a_group_override_resizes_a_running_node_and_a_node_override_beats_it(
    fleet: tuple[httpx.AsyncClient, str, str], tmp_path: Path, kernel_cache: Path
) -> None:
    hive, hive_url, assets_url = fleet
    secret_file = tmp_path / "secret"
    secret_file.write_text(NODE_SECRET)
    args = ["--hive", hive_url, "--assets", assets_url, "--secret-file", str(secret_file)]
    node = start_node(tmp_path / "node", *args, "--threads", "1", "--label", "group=lab")
    try:

        async def plans_are(*expected: tuple[int, int]) -> bool:
            assert node.process.poll() is None, node.log()
            return worker_plans(node) == list(expected)

        await wait_until(lambda: plans_are((1, 10)), timeout_s=60)
        response = await hive.post("/jobs", json=ortho_job(), headers=ADMIN_HEADERS)
        assert response.status_code == 200, response.text

        async def working() -> bool:
            return "leased job" in node.log()

        await wait_until(working, timeout_s=30)
        await put_layer(hive, "/fleet/config/groups/lab", {"thread_count": 2})
        await wait_until(lambda: plans_are((1, 10), (2, 10)), timeout_s=10)
        node_id = re.search(r"registered as (\S+)", node.log())
        assert node_id is not None
        path = f"/fleet/config/nodes/{node_id.group(1)}"
        await put_layer(hive, path, {"thread_count": 1, "background": True})
        # The node's layer wins over its group's; background runs one worker fewer (at least
        # one) at the lowest priority.
        await wait_until(lambda: plans_are((1, 10), (2, 10), (1, 19)), timeout_s=10)

        await put_layer(hive, path, {"thread_count": 1, "background": True, "paused": True})

        async def paused() -> bool:
            return "(paused by the node config)" in node.log()

        await wait_until(paused, timeout_s=10)
        config = (await hive.get(f"/nodes/{node_id.group(1)}/config", headers=ADMIN_HEADERS)).json()
        assert config["config"]["paused"] is True
        # Unpaused, it would lease another of the job's free slots at once.
        await asyncio.sleep(2)
        assert node.log().count("leased job") == 1  # a paused node takes no new lease
    finally:
        assert node.stop() == 0, node.log()
