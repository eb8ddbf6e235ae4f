"""The hive's app factory; its lifespan owns every pool and background loop and stops them."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.openapi.utils import get_openapi
from starlette.middleware.cors import CORSMiddleware
from starlette.routing import Route

from keyforge_hive import metrics_routes, settings_routes
from keyforge_hive.auth import Authenticator
from keyforge_hive.config import HiveSettings
from keyforge_hive.events.fanout import KEEPALIVE_S, EventFanout
from keyforge_hive.events.limits import RENEW_S, StreamLeases
from keyforge_hive.events.sse import EventStream
from keyforge_hive.fleet import routes as fleet_routes
from keyforge_hive.fleet.state import FleetControl
from keyforge_hive.jobs import result_routes, submission_routes
from keyforge_hive.jobs import routes as job_routes
from keyforge_hive.jobs.retention import prune_results
from keyforge_hive.jobs.state import JobsState
from keyforge_hive.kv import routes as kv_routes
from keyforge_hive.kv.gc import sweep_expired
from keyforge_hive.nodes import cluster_routes
from keyforge_hive.nodes import routes as node_routes
from keyforge_hive.nodes.cluster_stats import StatsCache
from keyforge_hive.nodes.heartbeat_endpoint import PATH as HEARTBEAT_PATH
from keyforge_hive.nodes.heartbeat_endpoint import HeartbeatEndpoint, document_heartbeat
from keyforge_hive.nodes.heartbeats import HeartbeatBatcher
from keyforge_hive.nodes.last_seen import LastSeenFlusher
from keyforge_hive.nodes.rate_limits import RateLimiter
from keyforge_hive.nodes.status import NodeStatusTracker, StatusAnnouncer
from keyforge_hive.nodes.tokens import TokenDirectory
from keyforge_hive.records import routes as record_routes
from keyforge_hive.records.work_units import WorkUnitsFlusher
from keyforge_hive.settings_sync import SYNC_S, sync_settings
from keyforge_hive.state import Hive, hive_of
from keyforge_shared.body_guard import RequestBodyGuard
from keyforge_shared.connect import close_pool, connect_postgres, connect_valkey
from keyforge_shared.cors import cors_options
from keyforge_shared.errors import install_error_handlers
from keyforge_shared.health import HealthCheck, health_router, postgres_check, valkey_check
from keyforge_shared.heap import settle_after_startup
from keyforge_shared.keys import Keys
from keyforge_shared.live_settings import RuntimeView, follow_settings
from keyforge_shared.loops import run_every, stop_tasks
from keyforge_shared.routing import mount_routers
from keyforge_shared.runtime_settings import load_stored_settings
from keyforge_shared.shutdown import CloseWhileDraining, Drain

MONITOR_TICK_S = 1.0
FLUSH_TICK_S = 1.0
KV_SWEEP_S = 30.0
# The hive's Valkey pool: ~8 held by its loops (two heartbeat flushers, the node
# monitor, settings follower (a pub/sub connection) and sync, job queue loops)
# plus the requests in flight, each holding one for a command (well under a
# millisecond). 64 lets hundreds of concurrent requests through with waits of
# a few ms; beyond it they queue (VALKEY_POOL_WAIT_S) instead of failing.
VALKEY_CONNECTIONS = 64
# At shutdown, how long queued job events may take to reach the bus.
OUTBOX_FLUSH_S = 3.0
# At shutdown, how long each final flush to Postgres may take.
SHUTDOWN_FLUSH_S = 5.0

log = logging.getLogger(__name__)


def _health_checks(request: Request) -> dict[str, HealthCheck]:
    hive = hive_of(request)
    return {"postgres": postgres_check(hive.pool), "valkey": valkey_check(hive.valkey)}


async def _open_hive(settings: HiveSettings, stack: AsyncExitStack) -> Hive:
    name = f"keyforge-hive-{os.getpid()}"
    valkey_url = settings.valkey_url.get_secret_value()
    pool = await connect_postgres(
        settings.database_url.get_secret_value(),
        application_name=name,
        attempts=settings.connect_attempts,
        max_size=settings.pg_pool_size,
    )
    stack.push_async_callback(close_pool, pool)
    valkey = await connect_valkey(
        valkey_url,
        client_name=name,
        attempts=settings.connect_attempts,
        max_connections=VALKEY_CONNECTIONS,
    )
    stack.push_async_callback(valkey.aclose)
    reader = await connect_valkey(
        valkey_url,
        client_name=f"{name}-events",
        attempts=settings.connect_attempts,
        socket_timeout=None,
        max_connections=2,  # the XREAD loop only
    )
    stack.push_async_callback(reader.aclose)

    keys = Keys(settings.valkey_prefix)
    stored = await load_stored_settings(pool, actor="hive")
    runtime = RuntimeView(stored.settings, stored.version)
    flusher = LastSeenFlusher(pool, lambda: runtime.current.last_seen_flush_s)
    announcer = StatusAnnouncer(flusher)
    fleet = FleetControl(pool, valkey, keys, lambda: runtime.current.max_leases_per_node)
    await fleet.refresh()
    return Hive(
        settings=settings,
        keys=keys,
        pool=pool,
        valkey=valkey,
        runtime=runtime,
        heartbeats=HeartbeatBatcher(
            valkey, keys, lambda: runtime.current.heartbeat_ttl_s, announcer.beats_stored
        ),
        node_status=NodeStatusTracker(
            valkey,
            keys,
            pool,
            lambda: runtime.current.down_after_s,
            announcer.node_status_changed,
        ),
        last_seen=flusher,
        announcer=announcer,
        fanout=EventFanout(reader, keys),
        stream_leases=StreamLeases(valkey, keys),
        stats_cache=StatsCache(),
        jobs=JobsState.open(valkey, keys, pool, lambda: runtime.current.lease_s, fleet.may_lease),
        fleet=fleet,
        tokens=TokenDirectory(pool),
        limits=RateLimiter(valkey, keys, runtime),
        work_units=WorkUnitsFlusher(valkey, keys, pool),
        secrets=settings.secrets_keyring(),
    )


async def _stop_hive(hive: Hive, tasks: list[asyncio.Task[None]]) -> None:
    """Hand over what is still in memory, each step bounded so a stalled store
    cannot hold the shutdown (and the rolling restart behind it) hostage."""
    await hive.jobs.outbox.flush(OUTBOX_FLUSH_S)
    await stop_tasks(tasks)
    final_flushes: dict[str, Callable[[], Awaitable[int]]] = {
        "last-seen flush": lambda: hive.last_seen.flush(everything=True),
        # What stays pending in Valkey is flushed by the next hive's pass.
        "work-units flush": hive.work_units.flush,
    }
    for name, flush in final_flushes.items():
        try:
            await asyncio.wait_for(flush(), SHUTDOWN_FLUSH_S)
        except Exception as exc:
            log.warning("shutdown: %s failed (%s)", name, type(exc).__name__)


def _release_waiters(hive: Hive) -> None:
    """At the end of the drain: answer parked long polls and end event streams before
    the server's grace period would cut them off."""
    hive.jobs.queue.stop()
    hive.fanout.close_all()


def _start_loops(hive: Hive) -> list[asyncio.Task[None]]:
    async def prune() -> None:
        await prune_results(hive.pool, hive.runtime.current.result_retention_days)

    loops = {
        "heartbeat-flusher": hive.heartbeats.run(),
        "event-fanout": hive.fanout.run(),
        "sse-keepalive": run_every("sse-keepalive", lambda: KEEPALIVE_S, hive.fanout.keepalive),
        "sse-leases": run_every("sse-leases", lambda: RENEW_S, hive.stream_leases.renew),
        "node-monitor": run_every("node-monitor", lambda: MONITOR_TICK_S, hive.node_status.tick),
        "last-seen-flusher": run_every(
            "last-seen-flusher", lambda: FLUSH_TICK_S, hive.last_seen.flush
        ),
        # Changes arrive by announcement within a second; the sync is the backstop.
        "settings-follow": follow_settings(hive.valkey, hive.keys, hive.runtime),
        "settings-sync": run_every("settings-sync", lambda: SYNC_S, lambda: sync_settings(hive)),
        "kv-sweep": run_every("kv-sweep", lambda: KV_SWEEP_S, lambda: sweep_expired(hive.pool)),
        "result-retention": run_every(
            "result-retention", lambda: hive.settings.retention_pass_s, prune
        ),
        "work-units-flusher": run_every(
            "work-units-flusher", lambda: hive.settings.work_units_flush_s, hive.work_units.flush
        ),
        **hive.jobs.loops(hive.fanout),
        **hive.fleet.loops(),
    }
    return [asyncio.create_task(coro, name=name) for name, coro in loops.items()]


def create_app(settings: HiveSettings) -> FastAPI:
    drain = Drain(settings.drain_s)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            hive = await _open_hive(settings, stack)
            app.state.hive = hive
            tasks = _start_loops(hive)
            restore_signals = drain.install(lambda: _release_waiters(hive))
            settle_after_startup()
            try:
                yield
            finally:
                restore_signals()
                await _stop_hive(hive, tasks)

    app = FastAPI(title="KeyForge hive", lifespan=lifespan)
    app.state.authenticator = Authenticator.from_settings(settings)
    app.add_middleware(RequestBodyGuard, limit=settings.body_limit_bytes)
    app.add_middleware(CloseWhileDraining, drain=drain)
    # Outermost, so every answer (errors, the heartbeat, /events) carries it.
    app.add_middleware(CORSMiddleware, **cors_options(settings.cors_origin))
    install_error_handlers(app)
    app.router.routes.append(Route(HEARTBEAT_PATH, HeartbeatEndpoint(), methods=["POST"]))
    mount_routers(
        app,
        node_routes.router,
        result_routes.router,
        job_routes.router,
        record_routes.router,
        submission_routes.router,
        health_router(_health_checks, drain),
        cluster_routes.router,
        metrics_routes.router,
        settings_routes.router,
        kv_routes.router,
        fleet_routes.router,
    )
    app.router.routes.append(Route("/events", EventStream(), methods=["GET"]))

    # The OpenAPI document is free-form JSON (FastAPI's own type for it).
    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = document_heartbeat(
                get_openapi(title=app.title, version=app.version, routes=app.routes)
            )
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app
