"""The comparison endpoints of ``bench/heartbeat.py``, each a uvicorn app factory.

All validate the same body with the hive's own model and answer 204, so the
only difference is what they do with the heartbeat.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
from fastapi import FastAPI, Response
from redis.asyncio import Redis

from keyforge_hive.nodes.telemetry import encode_telemetry
from keyforge_shared.keys import Keys
from keyforge_shared.protocol.nodes import HeartbeatIn


def bare_app() -> FastAPI:
    """Validation only: the ceiling for any heartbeat endpoint in this framework."""
    app = FastAPI()

    @app.post("/nodes/{node_id}/heartbeat", status_code=204)
    async def heartbeat(node_id: str, body: HeartbeatIn) -> Response:
        return Response(status_code=204)

    return app


def postgres_app() -> FastAPI:
    """The design the Valkey aggregator replaces: one UPDATE per heartbeat."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.pool = await asyncpg.create_pool(
            os.environ["DATABASE_URL"], min_size=4, max_size=16
        )
        yield
        await app.state.pool.close()

    app = FastAPI(lifespan=lifespan)

    @app.post("/nodes/{node_id}/heartbeat", status_code=204)
    async def heartbeat(node_id: str, body: HeartbeatIn) -> Response:
        await app.state.pool.execute(
            "UPDATE nodes SET last_seen = now() WHERE node_id = $1", node_id
        )
        return Response(status_code=204)

    return app


def naive_valkey_app() -> FastAPI:
    """One ``SET ... EX`` per request, no batching: the straightforward Valkey design."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.valkey = Redis.from_url(os.environ["KEYFORGE_VALKEY_URL"])
        yield
        await app.state.valkey.aclose()

    app = FastAPI(lifespan=lifespan)
    keys = Keys()

    @app.post("/nodes/{node_id}/heartbeat", status_code=204)
    async def heartbeat(node_id: str, body: HeartbeatIn) -> Response:
        await app.state.valkey.set(keys.heartbeat(node_id), encode_telemetry(body), ex=30)
        return Response(status_code=204)

    return app
