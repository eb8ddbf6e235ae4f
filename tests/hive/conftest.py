"""Two hive app instances on real uvicorn servers, sharing one Valkey and one database."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from redis.asyncio import Redis

from keyforge_hive.app import create_app
from keyforge_shared.processes import free_port, spawn, stop_process, wait_for_port
from keyforge_shared.protocol import headers as wire
from tests.conftest import ValkeyFixture
from tests.support import ADMIN_SECRET, NODE_SECRET, hive_process_env, hive_settings, serve_app

# Membership only: registration, and the requests that must be refused without a token.
NODE_HEADERS = {wire.NODE_SECRET: NODE_SECRET}
ADMIN_HEADERS = {wire.ADMIN_SECRET: ADMIN_SECRET}
# node id -> the token its last claiming registration answered (``register`` keeps it).
NODE_TOKENS: dict[str, str] = {}


def node_headers(node_id: str) -> dict[str, str]:
    """What a registered node sends on a node-scoped request: the secret and its token."""
    return {**NODE_HEADERS, wire.NODE_TOKEN: NODE_TOKENS[node_id]}


@pytest.fixture(autouse=True)
def _forget_node_tokens() -> None:
    """Each test runs on a fresh fleet: no token of an earlier one is valid there."""
    NODE_TOKENS.clear()


MEMBER = "member-node"


async def member_headers(client: httpx.AsyncClient, node_id: str = MEMBER) -> dict[str, str]:
    """Headers of some registered node (registered on first use), for node-scoped requests
    that name no node (POST /jobs, POST /score, population)."""
    if node_id not in NODE_TOKENS:
        await register(client, node_id)
    return node_headers(node_id)


@dataclass
class HivePair:
    a: httpx.AsyncClient
    b: httpx.AsyncClient
    database_url: str
    valkey: Redis  # admin connection, for assertions and fault injection


async def set_runtime_settings(database_url: str, **fields: Any) -> None:
    """Store the settings row a hive reads at start-up (the database wins over env)."""
    from keyforge_shared.runtime_settings import RuntimeSettings

    data = RuntimeSettings(**fields).model_dump_json()
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute(
            "INSERT INTO settings (id, data, updated_by) VALUES (1, $1::jsonb, 'test')"
            " ON CONFLICT (id) DO UPDATE SET data = EXCLUDED.data",
            data,
        )
    finally:
        await conn.close()


@contextlib.asynccontextmanager
async def running_hives(
    database_url: str, valkey: ValkeyFixture, count: int = 2, **overrides: Any
) -> AsyncIterator[list[httpx.AsyncClient]]:
    async with contextlib.AsyncExitStack() as stack:
        clients = []
        for _ in range(count):
            settings = hive_settings(
                database_url=database_url, valkey_url=valkey.url("hive"), **overrides
            )
            url = await stack.enter_async_context(serve_app(create_app(settings)))
            client = httpx.AsyncClient(base_url=url, timeout=30)
            await stack.enter_async_context(client)
            clients.append(client)
        yield clients


@contextlib.asynccontextmanager
async def hive_processes(
    database_url: str,
    valkey: ValkeyFixture,
    log_dir: Path,
    count: int = 2,
    processes: list[subprocess.Popen[bytes]] | None = None,
    *,
    env: Mapping[str, str] | None = None,
) -> AsyncIterator[list[httpx.AsyncClient]]:
    """Hives as real ``keyforge-hive`` processes (own CPU, own event loop), stopped by PID.

    Pass ``processes`` to get hold of them (to signal or kill one), ``env`` to
    set more of their environment."""
    processes = [] if processes is None else processes
    async with contextlib.AsyncExitStack() as stack:
        try:
            clients = []
            for index in range(count):
                port = free_port()
                process = spawn(
                    [sys.executable, "-m", "keyforge_hive"],
                    env={**hive_process_env(database_url, valkey.url("hive"), port), **(env or {})},
                    log_file=log_dir / f"hive-{index}.log",
                )
                processes.append(process)
                await asyncio.to_thread(wait_for_port, port, timeout_s=60, process=process)
                client = httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30)
                await stack.enter_async_context(client)
                clients.append(client)
            yield clients
        finally:
            await asyncio.gather(*(asyncio.to_thread(stop_process, p) for p in processes))


@pytest.fixture
async def hives(
    database_url: str, app_database_url: str, valkey: ValkeyFixture, valkey_admin: Redis
) -> AsyncIterator[HivePair]:
    """Two hives serving as the application role (DML only), as in production;
    ``database_url`` (the owner's) is for the test's own assertions."""
    async with running_hives(app_database_url, valkey) as (a, b):
        yield HivePair(a, b, database_url, valkey_admin)


def registration(node_id: str, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "node_id": node_id,
        "cpu_model": "AMD Ryzen 9 7950X",
        "cores": 16,
        "l2_cache_kb": 1024,
        "ops_per_sec": 12_000_000.0,
        "arch": "x86_64",
        "ram_total_bytes": 64 * 2**30,
        "labels": {"site": "test"},
    }
    body.update(overrides)
    return body


async def register(client: httpx.AsyncClient, node_id: str, **overrides: Any) -> httpx.Response:
    """Register (claiming the id, or again with the token this module holds for it)."""
    headers = dict(NODE_HEADERS)
    if node_id in NODE_TOKENS:
        headers[wire.NODE_TOKEN] = NODE_TOKENS[node_id]
    response = await client.post(
        "/nodes/register", json=registration(node_id, **overrides), headers=headers
    )
    assert response.status_code == 200, response.text
    token = response.json().get("node_token")
    if token is not None:
        NODE_TOKENS[node_id] = token
    return response


async def beat(client: httpx.AsyncClient, node_id: str, ips: float = 1000.0) -> httpx.Response:
    return await client.post(
        f"/nodes/{node_id}/heartbeat", json={"ips": ips}, headers=node_headers(node_id)
    )


SYSTEM_ASSETS = Path(__file__).resolve().parents[2] / "data" / "system"
ORIGINAL_DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "keyforge-data"


async def publish_assets(valkey: ValkeyFixture, root: Path) -> set[str]:
    """Publish a directory as assetmgr does (its Valkey user, lock, checks); returns the paths."""
    from keyforge_assetmgr.config import AssetMgrSettings
    from keyforge_assetmgr.lock import new_token, release, try_acquire
    from keyforge_assetmgr.publisher import Publisher
    from keyforge_assetmgr.store import AssetStore
    from keyforge_shared.connect import connect_valkey
    from keyforge_shared.keys import Keys

    settings = AssetMgrSettings.model_validate(
        {"KEYFORGE_VALKEY_URL": valkey.url("assetmgr"), "KEYFORGE_ASSETS_DIR": str(root)}
    )
    client = await connect_valkey(valkey.url("assetmgr"), client_name="test-publisher", attempts=1)
    token = new_token()
    try:
        assert await try_acquire(client, Keys(), token, ttl_s=30)
        publisher = Publisher(settings, AssetStore(client, Keys(), token))
        assert await publisher.hydrate() == {}, "a published file was not settled"
        await release(client, Keys(), token)
        return set(publisher.served)
    finally:
        await client.aclose()


@pytest.fixture
async def system_assets(valkey: ValkeyFixture, valkey_admin: Redis) -> set[str]:
    """The project's data/system, published into the test's (freshly emptied) Valkey."""
    return await publish_assets(valkey, SYSTEM_ASSETS)


@pytest.fixture
async def original_assets(valkey: ValkeyFixture, valkey_admin: Redis) -> set[str]:
    """The original KeyForge data (its corpus, cost matrix and keycodes), published."""
    if not ORIGINAL_DATA.is_dir():
        pytest.skip(f"original KeyForge data not found at {ORIGINAL_DATA.resolve()}")
    return await publish_assets(valkey, ORIGINAL_DATA)
