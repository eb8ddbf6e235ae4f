"""Connection factories: named clients, bounded timeouts, ping-and-retry on connect.

A service that starts before its dependencies (containers, `keyforge up`) waits
for them with capped exponential backoff, then gives up loudly rather than
serving 503s forever from a process that never had a connection.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import asyncpg
from redis.asyncio import Redis
from redis.exceptions import BusyLoadingError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

log = logging.getLogger(__name__)
T = TypeVar("T")

BACKOFF_START_S = 0.1
BACKOFF_CAP_S = 2.0

# Errors that mean "not up yet" rather than "misconfigured".
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    asyncio.TimeoutError,
    RedisConnectionError,
    RedisTimeoutError,
    BusyLoadingError,
    asyncpg.CannotConnectNowError,
    asyncpg.TooManyConnectionsError,
)


async def retry_connect(what: str, attempts: int, connect: Callable[[], Awaitable[T]]) -> T:
    """Call ``connect`` until it succeeds or ``attempts`` are spent."""
    delay = BACKOFF_START_S
    for attempt in range(1, attempts + 1):
        try:
            return await connect()
        except TRANSIENT_ERRORS as exc:
            failure = exc
        if attempt == attempts:
            raise ConnectionError(f"{what} unreachable after {attempts} attempts") from failure
        # The error's text can carry a DSN; log its type only.
        log.warning(
            "%s not reachable yet (%s), retry %d/%d",
            what,
            type(failure).__name__,
            attempt,
            attempts,
        )
        await asyncio.sleep(delay)
        delay = min(delay * 2, BACKOFF_CAP_S)
    raise AssertionError("unreachable")


def valkey_client(url: str, *, client_name: str, socket_timeout: float | None = 5.0) -> Redis:
    """A client that names itself in ``CLIENT LIST`` and never hangs forever.

    ``socket_timeout=None`` is for the one connection that blocks on ``XREAD``.
    """
    return Redis.from_url(
        url,
        client_name=client_name,
        socket_connect_timeout=2.0,
        socket_timeout=socket_timeout,
        health_check_interval=15,
        decode_responses=False,
    )


async def connect_valkey(
    url: str, *, client_name: str, attempts: int, socket_timeout: float | None = 5.0
) -> Redis:
    client = valkey_client(url, client_name=client_name, socket_timeout=socket_timeout)

    async def ping() -> Redis:
        await client.ping()
        return client

    try:
        return await retry_connect("valkey", attempts, ping)
    except BaseException:
        await client.aclose()
        raise


# A Postgres that does not answer (stopped, stalled disk, partitioned) must
# cost a request seconds, not minutes: the command timeout bounds a query on
# a connection already held, the acquire timeout bounds waiting for a
# connection (and opening one), and the same budget bounds the reset on
# release. Worst case for one request: command + acquire timeouts.
PG_COMMAND_TIMEOUT_S = 2.5
PG_ACQUIRE_TIMEOUT_S = 1.5


class BoundedPool(asyncpg.Pool):
    """An asyncpg pool whose ``acquire`` (and so ``fetch``, ``execute``...) never waits forever.

    asyncpg's own helpers call ``acquire()`` without a timeout; this pool gives
    every acquisition (and the release that follows it) a default budget.
    """

    __slots__ = ("_acquire_timeout",)

    def __init__(self, dsn: str, *, acquire_timeout: float, **kwargs: Any) -> None:
        super().__init__(
            dsn,
            max_queries=50_000,
            max_inactive_connection_lifetime=300.0,
            loop=None,
            connection_class=asyncpg.Connection,
            record_class=asyncpg.Record,
            **kwargs,
        )
        self._acquire_timeout = acquire_timeout

    def acquire(self, *, timeout: float | None = None) -> Any:
        return super().acquire(timeout=self._acquire_timeout if timeout is None else timeout)


async def connect_postgres(
    dsn: str,
    *,
    application_name: str,
    attempts: int,
    min_size: int = 1,
    max_size: int = 10,
    command_timeout_s: float = PG_COMMAND_TIMEOUT_S,
    acquire_timeout_s: float = PG_ACQUIRE_TIMEOUT_S,
    lock_timeout_ms: int | None = None,
) -> asyncpg.Pool:
    """An asyncpg pool whose sessions carry a name and bounded timeouts.

    The server's ``statement_timeout`` is a little shorter than the client's
    command timeout, so a slow query is normally cancelled by Postgres (the
    connection stays healthy) and the client timeout only fires when the
    server does not answer at all. A background pass that needs longer says
    so itself (``SET LOCAL statement_timeout`` and its own ``timeout=``).
    """
    statement_timeout_ms = max(100, int(command_timeout_s * 1000) - 500)
    lock_ms = statement_timeout_ms if lock_timeout_ms is None else lock_timeout_ms

    async def create() -> asyncpg.Pool:
        pool = BoundedPool(
            dsn,
            acquire_timeout=acquire_timeout_s,
            init=_register_json_codecs,
            min_size=min_size,
            max_size=max_size,
            timeout=5.0,
            command_timeout=command_timeout_s,
            server_settings={
                "application_name": application_name,
                "statement_timeout": str(statement_timeout_ms),
                "lock_timeout": str(lock_ms),
                "idle_in_transaction_session_timeout": "60000",
            },
        )
        try:
            await pool
            await pool.fetchval("SELECT 1")
        except BaseException:
            pool.terminate()
            raise
        return pool

    return await retry_connect("postgres", attempts, create)


async def _register_json_codecs(conn: asyncpg.Connection) -> None:
    """jsonb travels as Python values. ``json`` stays text: it keeps documents byte-exact."""
    await conn.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


async def wait_for_postgres(dsn: str, *, attempts: int) -> None:
    """Until one connection succeeds: the prestart step before migrating."""

    async def probe() -> None:
        conn = await asyncpg.connect(dsn, timeout=5.0)
        await conn.close()

    await retry_connect("postgres", attempts, probe)
