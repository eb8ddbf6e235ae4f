"""The gateway's app factory: read-only Valkey credentials, caches owned by the lifespan."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from redis.exceptions import RedisError
from starlette.middleware.cors import CORSMiddleware
from starlette.types import Receive, Scope, Send

from keyforge_assets.blob_cache import BlobCache
from keyforge_assets.config import AssetsSettings
from keyforge_assets.gateway import Gateway, gateway_of
from keyforge_assets.manifest_cache import ManifestCache
from keyforge_assets.serving import FRAMEWORK_PATHS, answer_asset_request
from keyforge_shared.connect import connect_valkey
from keyforge_shared.cors import allow_origin, cors_options
from keyforge_shared.errors import ContainUnexpectedErrors, DependencyDown, install_error_handlers
from keyforge_shared.health import HealthCheck, health_router, valkey_check
from keyforge_shared.heap import settle_after_startup
from keyforge_shared.keys import Keys
from keyforge_shared.live_settings import RuntimeView, follow_settings
from keyforge_shared.loops import stop_tasks
from keyforge_shared.runtime_settings import RuntimeSettings
from keyforge_shared.shutdown import Drain


class GatewayApp(FastAPI):
    """FastAPI for ``/manifest`` and the probes; every other path goes to the asset handler."""

    def __init__(self, drain: Drain, web_origin: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.drain = drain
        # The asset handler bypasses FastAPI's middleware stack: CORS wraps it here.
        self._assets = allow_origin(ContainUnexpectedErrors(self._answer_asset), web_origin)
        self.add_middleware(CORSMiddleware, **cors_options(web_origin))

    async def _answer_asset(self, scope: Scope, receive: Receive, send: Send) -> None:
        await answer_asset_request(self.state.gateway, scope, receive, send)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            send = self.drain.closing(send)
            if scope["path"] not in FRAMEWORK_PATHS:
                await self._assets(scope, receive, send)
                return
        await super().__call__(scope, receive, send)


def _health_checks(request: Request) -> dict[str, HealthCheck]:
    return {"valkey": valkey_check(gateway_of(request).valkey)}


async def manifest(request: Request) -> JSONResponse:
    snapshot = gateway_of(request).manifest.snapshot
    if snapshot is None:
        raise DependencyDown("the manifest is not loaded yet", retry_after_s=1)
    # Clients revalidate every time: the manifest is what tells them an asset changed.
    return JSONResponse(snapshot.document(), headers={"Cache-Control": "no-cache"})


def create_app(settings: AssetsSettings) -> FastAPI:
    drain = Drain(settings.drain_s)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Closed in reverse order however far the start got: signals, loops, pool.
        async with AsyncExitStack() as stack:
            valkey = await connect_valkey(
                settings.valkey_url.get_secret_value(),
                client_name=f"keyforge-assets-{os.getpid()}",
                attempts=settings.connect_attempts,
            )
            stack.push_async_callback(valkey.aclose)
            keys = Keys(settings.valkey_prefix)
            cache = ManifestCache(valkey, keys, settings.manifest_poll_s)
            blobs = BlobCache(
                valkey,
                keys,
                max_bytes=settings.blob_cache_bytes,
                max_item_bytes=settings.blob_cache_item_bytes,
            )
            runtime = RuntimeView(RuntimeSettings())  # defaults until the first read
            app.state.gateway = Gateway(settings, keys, valkey, cache, blobs, runtime)
            # On failure keep_fresh retries; requests answer 503 until it succeeds.
            with contextlib.suppress(RedisError):
                await cache.refresh()
            tasks = [
                asyncio.create_task(cache.follow_events(), name="asset-events"),
                asyncio.create_task(cache.keep_fresh(), name="manifest-refresh"),
                asyncio.create_task(follow_settings(valkey, keys, runtime), name="settings-follow"),
            ]
            stack.push_async_callback(stop_tasks, tasks)
            stack.callback(drain.install())
            settle_after_startup()
            yield

    # No docs routes: every other path may name an asset.
    app = GatewayApp(
        drain,
        settings.cors_origin,
        title="KeyForge assets",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    install_error_handlers(app)
    app.include_router(health_router(_health_checks, drain))
    app.add_api_route("/manifest", manifest, methods=["GET"], response_model=None)
    return app
