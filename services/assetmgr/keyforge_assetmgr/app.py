"""The asset manager's app: its HTTP side is only health, for ``--check`` and orchestrators."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from fastapi import FastAPI, Request
from redis.asyncio import Redis

from keyforge_assetmgr.config import AssetMgrSettings
from keyforge_shared.connect import connect_valkey
from keyforge_shared.errors import install_error_handlers
from keyforge_shared.health import HealthCheck, health_router, valkey_check
from keyforge_shared.keys import Keys


@dataclass(frozen=True, slots=True)
class AssetManager:
    settings: AssetMgrSettings
    keys: Keys
    valkey: Redis


def manager_of(request: Request) -> AssetManager:
    manager: AssetManager = request.app.state.manager
    return manager


def _health_checks(request: Request) -> dict[str, HealthCheck]:
    return {"valkey": valkey_check(manager_of(request).valkey)}


def create_app(settings: AssetMgrSettings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        valkey = await connect_valkey(
            settings.valkey_url.get_secret_value(),
            client_name=f"keyforge-assetmgr-{os.getpid()}",
            attempts=settings.connect_attempts,
        )
        try:
            app.state.manager = AssetManager(settings, Keys(settings.valkey_prefix), valkey)
            yield
        finally:
            await valkey.aclose()

    app = FastAPI(title="KeyForge asset manager", lifespan=lifespan)
    install_error_handlers(app)
    app.include_router(health_router(_health_checks))
    return app
