"""Plain helpers for tests: real HTTP servers for our apps, polling, settings factories."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI

from keyforge_assets.config import AssetsSettings
from keyforge_hive.config import HiveSettings
from keyforge_shared.processes import free_port
from keyforge_shared.serve import KEEP_ALIVE_S

NODE_SECRET = "node-secret-for-tests-0123456789"
ADMIN_SECRET = "admin-secret-for-tests-0123456789"
# A fixed AES-256 key for KV secrets (base64 of 32 bytes), so tests can compare key ids.
SECRETS_KEY = "a2V5Zm9yZ2UgdGVzdHMgc2VjcmV0cyBrZXkgMzIgYiE="


async def wait_until(
    predicate: Callable[[], Awaitable[bool]], timeout_s: float = 10.0, interval_s: float = 0.05
) -> None:
    """Poll until ``predicate`` holds; fail after ``timeout_s``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not await predicate():
        if loop.time() > deadline:
            raise AssertionError(f"condition not met within {timeout_s}s")
        await asyncio.sleep(interval_s)


@contextlib.asynccontextmanager
async def serve_app(app: FastAPI) -> AsyncIterator[str]:
    """Run ``app`` under a real uvicorn on a free loopback port; yields its base URL."""
    port = free_port()
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        log_config=None,
        lifespan="on",
        timeout_keep_alive=KEEP_ALIVE_S,
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    try:
        await wait_until(_started(server, task), timeout_s=30)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 30)


def _started(server: uvicorn.Server, task: asyncio.Task[None]) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        if task.done():
            task.result()
            raise AssertionError("server stopped during start-up")
        return server.started

    return check


def hive_process_env(database_url: str, valkey_url: str, port: int) -> dict[str, str]:
    """The environment of one real ``keyforge-hive`` process in a test."""
    return {
        **os.environ,
        "KEYFORGE_ENV": "prod",
        "KEYFORGE_LISTEN_HOST": "127.0.0.1",
        "KEYFORGE_LISTEN_PORT": str(port),
        "DATABASE_URL": database_url,
        "KEYFORGE_VALKEY_URL": valkey_url,
        "HIVE_SECRET": NODE_SECRET,
        "HIVE_ADMIN_SECRET": ADMIN_SECRET,
        "KEYFORGE_LOG_LEVEL": "warning",
    }


def gateway_process(valkey_url: str, port: int, cwd: Path, **env: str) -> subprocess.Popen[bytes]:
    """A real ``keyforge-assets`` process; ``env`` sets more of its environment."""
    environment = {
        **os.environ,
        "KEYFORGE_VALKEY_URL": valkey_url,
        "KEYFORGE_LISTEN_HOST": "127.0.0.1",
        "KEYFORGE_LISTEN_PORT": str(port),
        "KEYFORGE_CONNECT_ATTEMPTS": "5",
        **env,
    }
    return subprocess.Popen([sys.executable, "-m", "keyforge_assets"], env=environment, cwd=cwd)


@contextlib.asynccontextmanager
async def running_gateway_process(
    valkey_url: str, cwd: Path, serving: str, **env: str
) -> AsyncIterator[tuple[subprocess.Popen[bytes], httpx.AsyncClient]]:
    """A real gateway process and a client of it, once it serves ``serving``; killed after."""
    port = free_port()
    process = gateway_process(valkey_url, port, cwd, **env)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:

            async def served() -> bool:
                try:
                    response = await client.get(serving)
                except httpx.TransportError:
                    return False
                return response.status_code == 200

            await wait_until(served, timeout_s=30, interval_s=0.1)
            yield process, client
    finally:
        process.kill()
        await asyncio.to_thread(process.wait, 15)


def hive_settings(*, database_url: str, valkey_url: str, **overrides: Any) -> HiveSettings:
    values: dict[str, Any] = {
        "KEYFORGE_ENV": "prod",
        "DATABASE_URL": database_url,
        "KEYFORGE_VALKEY_URL": valkey_url,
        "HIVE_SECRET": NODE_SECRET,
        "HIVE_ADMIN_SECRET": ADMIN_SECRET,
        "KEYFORGE_SECRETS_KEY": SECRETS_KEY,
        "KEYFORGE_CONNECT_ATTEMPTS": 3,
    }
    values.update(overrides)
    return HiveSettings.model_validate(values)


def assets_settings(*, valkey_url: str, **overrides: Any) -> AssetsSettings:
    values: dict[str, Any] = {"KEYFORGE_VALKEY_URL": valkey_url, "KEYFORGE_CONNECT_ATTEMPTS": 3}
    values.update(overrides)
    return AssetsSettings.model_validate(values)


@dataclass
class SseEvent:
    id: str | None
    event: str
    data: Any


class SseReader:
    """Reads Server-Sent Events from a streaming httpx response, one event at a time."""

    def __init__(self, response: httpx.Response) -> None:
        self._lines = response.aiter_lines()

    async def next_event(self, timeout_s: float = 10.0) -> SseEvent:
        fields: dict[str, str] = {}
        async with asyncio.timeout(timeout_s):
            async for line in self._lines:
                if not line:
                    if "event" in fields or "data" in fields:
                        data = json.loads(fields["data"]) if "data" in fields else None
                        return SseEvent(fields.get("id"), fields.get("event", "message"), data)
                    fields.clear()
                    continue
                if line.startswith(":"):
                    continue
                name, _, value = line.partition(":")
                fields[name] = value.removeprefix(" ")
        raise AssertionError("event stream ended")

    async def events(self, count: int, timeout_s: float = 10.0) -> list[SseEvent]:
        return [await self.next_event(timeout_s) for _ in range(count)]
