"""Plain helpers for asset tests: settings factories, running manager and gateway, polling."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx

from keyforge_assetmgr.app import create_app as create_manager_app
from keyforge_assetmgr.config import AssetMgrSettings
from keyforge_assets.app import create_app as create_gateway_app
from tests.support import assets_settings, serve_app, wait_until


def manager_settings(*, valkey_url: str, assets_dir: Path, **overrides: Any) -> AssetMgrSettings:
    values: dict[str, Any] = {
        "KEYFORGE_VALKEY_URL": valkey_url,
        "KEYFORGE_ASSETS_DIR": str(assets_dir),
        "KEYFORGE_CONNECT_ATTEMPTS": 3,
        # Tests write files and expect them served at once; a real editor is slower.
        "KEYFORGE_ASSET_SETTLE_S": 0.05,
        "KEYFORGE_ASSET_EPOCH_CHECK_S": 0.5,
        "KEYFORGE_ASSET_STANDBY_POLL_S": 0.3,
        "KEYFORGE_ASSET_LOCK_TTL_S": 2.0,
    }
    values.update(overrides)
    return AssetMgrSettings.model_validate(values)


@contextlib.asynccontextmanager
async def running_manager(settings: AssetMgrSettings) -> AsyncIterator[str]:
    app = create_manager_app(settings)
    async with serve_app(app) as url:
        yield url
    # A manager left running would take the lock and publish its directory
    # over later tests' managers: fail here, where it happened.
    assert app.state.manager.task.done(), "the asset manager kept running after it stopped"


@contextlib.asynccontextmanager
async def running_gateway(valkey_url: str, **overrides: Any) -> AsyncIterator[httpx.AsyncClient]:
    app = create_gateway_app(assets_settings(valkey_url=valkey_url, **overrides))
    async with serve_app(app) as url, httpx.AsyncClient(base_url=url, timeout=10) as client:
        yield client


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def write_file(path: Path, data: bytes) -> None:
    """Write and date the file in the past, so the manager takes it as settled at once."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    past = time.time() - 1
    os.utime(path, (past, past))


async def wait_for_sha(
    client: httpx.AsyncClient, path: str, sha256: str | None, timeout_s: float = 10.0
) -> None:
    """Until the gateway's manifest lists ``path`` at ``sha256`` (None: not at all)."""

    async def listed() -> bool:
        response = await client.get("/manifest")
        return response.status_code == 200 and response.json()["files"].get(path) == sha256

    await wait_until(listed, timeout_s=timeout_s, interval_s=0.02)


async def gather_bodies(client: httpx.AsyncClient, path: str, n: int) -> list[httpx.Response]:
    return list(await asyncio.gather(*(client.get(path) for _ in range(n))))
