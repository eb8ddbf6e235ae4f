"""The asset manager's app: the manager loop in its lifespan, health for ``--check``."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass

from fastapi import FastAPI, Request
from redis.asyncio import Redis

from keyforge_assetmgr.config import AssetMgrSettings
from keyforge_assetmgr.runner import ManagerState, run_manager
from keyforge_shared.connect import connect_valkey
from keyforge_shared.errors import install_error_handlers
from keyforge_shared.health import HealthCheck, health_router, valkey_check
from keyforge_shared.heap import settle_after_startup
from keyforge_shared.keys import Keys
from keyforge_shared.live_settings import RuntimeView, follow_settings
from keyforge_shared.loops import stop_tasks
from keyforge_shared.runtime_settings import RuntimeSettings


@dataclass(frozen=True, slots=True)
class AssetManager:
    settings: AssetMgrSettings
    keys: Keys
    valkey: Redis
    state: ManagerState
    task: asyncio.Task[None]
    runtime: RuntimeView  # the fleet's runtime settings, followed live


def manager_of(request: Request) -> AssetManager:
    manager: AssetManager = request.app.state.manager
    return manager


def _loop_check(manager: AssetManager) -> HealthCheck:
    async def check() -> object:
        if manager.task.done():
            raise RuntimeError("the manager loop has stopped")
        now = asyncio.get_running_loop().time()
        stalled = manager.state.writer_stalled_s(now, manager.settings.writer_stall_s)
        if stalled is not None:
            raise RuntimeError(f"the asset writer has made no progress for {stalled:.0f} s")
        return manager.state.role

    return check


def _health_checks(request: Request) -> dict[str, HealthCheck]:
    manager = manager_of(request)
    return {"valkey": valkey_check(manager.valkey), "manager": _loop_check(manager)}


def create_app(settings: AssetMgrSettings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Closed in reverse order however far the start got: the loops, then the pool.
        async with AsyncExitStack() as stack:
            valkey = await connect_valkey(
                settings.valkey_url.get_secret_value(),
                client_name=f"keyforge-assetmgr-{os.getpid()}",
                attempts=settings.connect_attempts,
            )
            stack.push_async_callback(valkey.aclose)
            keys = Keys(settings.valkey_prefix)
            state = ManagerState()
            task = asyncio.create_task(run_manager(settings, valkey, keys, state), name="assetmgr")
            runtime = RuntimeView(RuntimeSettings())  # defaults until the first read
            follower = asyncio.create_task(
                follow_settings(valkey, keys, runtime), name="settings-follow"
            )
            # Cancelling an active term releases the lock, so a standby takes over at once.
            stack.push_async_callback(stop_tasks, [task, follower])
            app.state.manager = AssetManager(settings, keys, valkey, state, task, runtime)
            settle_after_startup()
            yield

    app = FastAPI(title="KeyForge asset manager", lifespan=lifespan)
    install_error_handlers(app)
    app.include_router(health_router(_health_checks))
    return app
