"""The gateway's app factory; it holds one Valkey client with read-only credentials."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from fastapi import FastAPI, Request
from redis.asyncio import Redis

from keyforge_assets.config import AssetsSettings
from keyforge_shared.connect import connect_valkey
from keyforge_shared.errors import install_error_handlers
from keyforge_shared.health import HealthCheck, health_router, valkey_check
from keyforge_shared.keys import Keys


@dataclass(frozen=True, slots=True)
class Gateway:
    settings: AssetsSettings
    keys: Keys
    valkey: Redis


def gateway_of(request: Request) -> Gateway:
    gateway: Gateway = request.app.state.gateway
    return gateway


def _health_checks(request: Request) -> dict[str, HealthCheck]:
    return {"valkey": valkey_check(gateway_of(request).valkey)}


def create_app(settings: AssetsSettings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        valkey = await connect_valkey(
            settings.valkey_url.get_secret_value(),
            client_name=f"keyforge-assets-{os.getpid()}",
            attempts=settings.connect_attempts,
        )
        try:
            app.state.gateway = Gateway(settings, Keys(settings.valkey_prefix), valkey)
            yield
        finally:
            await valkey.aclose()

    app = FastAPI(title="KeyForge assets", lifespan=lifespan)
    install_error_handlers(app)
    app.include_router(health_router(_health_checks))
    return app
