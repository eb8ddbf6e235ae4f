"""The hive's app factory; its lifespan owns every pool and closes them."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import asyncpg
from fastapi import FastAPI, Request
from redis.asyncio import Redis

from keyforge_hive.config import HiveSettings
from keyforge_shared.connect import connect_postgres, connect_valkey
from keyforge_shared.errors import install_error_handlers
from keyforge_shared.health import HealthCheck, health_router, postgres_check, valkey_check
from keyforge_shared.keys import Keys


@dataclass(frozen=True, slots=True)
class Hive:
    """What one running hive instance holds, built by the lifespan."""

    settings: HiveSettings
    keys: Keys
    pool: asyncpg.Pool
    valkey: Redis


def hive_of(request: Request) -> Hive:
    hive: Hive = request.app.state.hive
    return hive


def _health_checks(request: Request) -> dict[str, HealthCheck]:
    hive = hive_of(request)
    return {"postgres": postgres_check(hive.pool), "valkey": valkey_check(hive.valkey)}


def create_app(settings: HiveSettings) -> FastAPI:
    client_name = f"keyforge-hive-{os.getpid()}"

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        pool = await connect_postgres(
            settings.database_url.get_secret_value(),
            application_name=client_name,
            attempts=settings.connect_attempts,
            max_size=settings.pg_pool_size,
        )
        try:
            valkey = await connect_valkey(
                settings.valkey_url.get_secret_value(),
                client_name=client_name,
                attempts=settings.connect_attempts,
            )
            try:
                app.state.hive = Hive(settings, Keys(settings.valkey_prefix), pool, valkey)
                yield
            finally:
                await valkey.aclose()
        finally:
            await pool.close()

    app = FastAPI(title="KeyForge hive", lifespan=lifespan)
    install_error_handlers(app)
    app.include_router(health_router(_health_checks))
    return app
