"""``/livez``, ``/health`` and ``/readyz``: liveness of the process, the state of its
dependencies, and whether the ingress proxy should send it requests."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping

import asyncpg
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from redis.asyncio import Redis

from keyforge_shared.errors import error_response
from keyforge_shared.protocol.errors import error_responses
from keyforge_shared.protocol.health import Health, Liveness
from keyforge_shared.shutdown import Drain

log = logging.getLogger(__name__)

HealthCheck = Callable[[], Awaitable[object]]
CHECK_TIMEOUT_S = 1.5
RETRY_AFTER_S = 5


def valkey_check(client: Redis) -> HealthCheck:
    async def check() -> object:
        return await client.ping()

    return check


def postgres_check(pool: asyncpg.Pool) -> HealthCheck:
    async def check() -> object:
        return await pool.fetchval("SELECT 1")

    return check


async def _run_check(name: str, check: HealthCheck) -> tuple[str, str]:
    try:
        await asyncio.wait_for(check(), CHECK_TIMEOUT_S)
    except Exception as exc:
        log.warning("health check %s failed: %s", name, type(exc).__name__)
        return name, "fail"
    return name, "ok"


async def run_checks(checks: Mapping[str, HealthCheck]) -> dict[str, str]:
    results = await asyncio.gather(*(_run_check(n, c) for n, c in checks.items()))
    return dict(results)


def health_router(
    checks_of: Callable[[Request], Mapping[str, HealthCheck]], drain: Drain | None = None
) -> APIRouter:
    """The probes; ``checks_of`` finds the running app's checks (set up by its lifespan).

    With ``drain`` (a service behind the proxy) also ``/readyz``, the proxy's
    health check: 503 once the service has begun to stop. It checks no
    dependency, so that a Postgres outage never takes every hive out at once.
    """
    router = APIRouter(tags=["health"])

    @router.get("/livez")
    async def livez() -> Liveness:
        return Liveness()

    # A JSONResponse either way: the 503 carries Retry-After and the checks.
    @router.get("/health", response_model=Health, responses=error_responses(503))
    async def health(request: Request) -> JSONResponse:
        results = await run_checks(checks_of(request))
        failing = sorted(name for name, state in results.items() if state != "ok")
        if not failing:
            return JSONResponse(Health(status="ok", checks=results).model_dump())
        return error_response(
            503,
            "dependency_down",
            f"unhealthy: {', '.join(failing)}",
            headers={"Retry-After": str(RETRY_AFTER_S)},
            extra={"status": "fail", "checks": results, "failing": failing},
        )

    if drain is not None:

        @router.get("/readyz", response_model=Liveness, responses=error_responses(503))
        async def readyz() -> JSONResponse:
            if not drain.draining:
                return JSONResponse(Liveness().model_dump())
            return error_response(
                503,
                "draining",
                "stopping: send requests elsewhere",
                headers={"Retry-After": str(RETRY_AFTER_S)},
            )

    return router
