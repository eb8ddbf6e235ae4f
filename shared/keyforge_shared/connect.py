"""Connection factories: named clients, bounded timeouts, ping-and-retry on connect.

A service that starts before its dependencies (containers, `keyforge up`) waits
for them with capped exponential backoff, then gives up loudly rather than
serving 503s forever from a process that never had a connection.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import asyncpg
from redis.asyncio import BlockingConnectionPool, Redis
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


# How long a command waits for a free pooled connection before it fails
# (then answered 503): a burst queues for a moment instead of failing at once.
VALKEY_POOL_WAIT_S = 5.0


def valkey_client(
    url: str,
    *,
    client_name: str,
    socket_timeout: float | None = 5.0,
    max_connections: int = 32,
    pool_wait_s: float = VALKEY_POOL_WAIT_S,
) -> Redis:
    """A client that names itself in ``CLIENT LIST`` and never hangs forever.

    Its pool is a ``BlockingConnectionPool``: past ``max_connections`` a
    command waits (up to ``pool_wait_s``) for a connection to come back,
    where redis-py's default pool raises ``MaxConnectionsError`` at once.
    One event loop gets no faster past a few dozen connections (each command
    is a fraction of a millisecond), so the bound protects Valkey's client
    table without costing throughput. ``socket_timeout=None`` is for the one
    connection that blocks on ``XREAD``.
    """
    pool = BlockingConnectionPool.from_url(
        url,
        max_connections=max_connections,
        timeout=pool_wait_s,
        client_name=client_name,
        socket_connect_timeout=2.0,
        socket_timeout=socket_timeout,
        health_check_interval=15,
        decode_responses=False,
    )
    return Redis.from_pool(pool)


async def connect_valkey(
    url: str,
    *,
    client_name: str,
    attempts: int,
    socket_timeout: float | None = 5.0,
    max_connections: int = 32,
) -> Redis:
    client = valkey_client(
        url,
        client_name=client_name,
        socket_timeout=socket_timeout,
        max_connections=max_connections,
    )

    async def ping() -> Redis:
        await client.ping()
        return client

    try:
        return await retry_connect("valkey", attempts, ping)
    except BaseException:
        await client.aclose()
        raise


# A Postgres that does not answer (stopped, stalled disk, partitioned) must
# cost a request seconds, not minutes, while a Postgres that is merely busy
# (a burst of registrations queueing for the pool) must not fail anyone.
# The command timeout bounds a query on a connection already held; a request
# waiting for a connection waits as long as the pool makes progress (some
# connection came back healthy within the last PG_STALL_S) and at most
# PG_BUSY_WAIT_S; the release (reset) of a connection is bounded too.
PG_COMMAND_TIMEOUT_S = 4.0
PG_STALL_S = 3.5
PG_BUSY_WAIT_S = 10.0
# Generous: on a loaded event loop the reset query on release is slow, and a
# release that times out throws the connection away (a costly reconnect).
# A connection whose command timed out is closed at once instead (its server
# may be frozen; waiting for the cancellation would double the bound).
PG_RELEASE_TIMEOUT_S = 5.0
_STALL_CHECK_S = 0.25


# At shutdown: how long the pool waits for connections still held (a
# background pass finishing its query) before it cuts them.
POOL_CLOSE_S = 5.0


async def close_pool(pool: asyncpg.Pool, within_s: float = POOL_CLOSE_S) -> None:
    """Close ``pool`` gracefully, but never wait forever for a connection still held.

    asyncpg's ``close`` waits for every acquired connection to come back; a
    task that outlived its cancellation (or a stalled server) would hold the
    whole shutdown hostage.
    """
    try:
        await asyncio.wait_for(pool.close(), within_s)
    except TimeoutError:
        log.warning("postgres pool: connections still held after %.1fs; cutting them", within_s)
        pool.terminate()


class BoundedPool(asyncpg.Pool):
    """An asyncpg pool whose ``acquire`` (and so ``fetch``, ``execute``...) never waits forever.

    asyncpg's own helpers call ``acquire()`` without a timeout, and one fixed
    timeout cannot tell a stalled server from a busy pool; this pool watches
    its own progress (connections coming back) while a caller waits.
    """

    __slots__ = ("_last_progress",)

    def __init__(self, dsn: str, **kwargs: Any) -> None:
        super().__init__(
            dsn,
            max_queries=50_000,
            max_inactive_connection_lifetime=300.0,
            loop=None,
            connection_class=asyncpg.Connection,
            record_class=asyncpg.Record,
            **kwargs,
        )
        self._last_progress = time.monotonic()

    def acquire(self, *, timeout: float | None = None) -> Any:
        return _Acquire(self, PG_BUSY_WAIT_S if timeout is None else timeout)

    async def release(self, connection: Any, *, timeout: float | None = None) -> None:  # noqa: ASYNC109
        await super().release(
            connection, timeout=PG_RELEASE_TIMEOUT_S if timeout is None else timeout
        )
        self._last_progress = time.monotonic()

    async def acquire_watching(self, budget_s: float) -> Any:
        # One acquisition, watched: cancelling and retrying it would also cut
        # off the connections the pool is opening to grow under a burst.
        acquiring = asyncio.ensure_future(super().acquire(timeout=budget_s))
        handed_over = False
        try:
            while True:
                done, _ = await asyncio.wait({acquiring}, timeout=_STALL_CHECK_S)
                if done:
                    connection = acquiring.result()
                    self._last_progress = time.monotonic()
                    handed_over = True
                    return connection
                if time.monotonic() - self._last_progress > PG_STALL_S:
                    raise TimeoutError("Postgres is not answering")
        finally:
            if not acquiring.done():
                acquiring.cancel()
            elif not handed_over and not acquiring.cancelled() and not acquiring.exception():
                # Cancelled just as the connection arrived: give it back, or
                # nobody ever would and the pool's close would wait for it.
                await super().release(acquiring.result(), timeout=PG_RELEASE_TIMEOUT_S)


class _Acquire:
    """``async with pool.acquire() as conn`` and ``conn = await pool.acquire()``, as asyncpg's."""

    def __init__(self, pool: BoundedPool, timeout: float) -> None:
        self.pool, self.timeout = pool, timeout
        self.connection: Any = None

    async def __aenter__(self) -> Any:
        self.connection = await self.pool.acquire_watching(self.timeout)
        return self.connection

    async def __aexit__(self, kind: type[BaseException] | None, *_: object) -> None:
        connection, self.connection = self.connection, None
        if kind is not None and issubclass(kind, TimeoutError):
            connection.terminate()
        await self.pool.release(connection)

    def __await__(self) -> Any:
        return self.pool.acquire_watching(self.timeout).__await__()


async def connect_postgres(
    dsn: str,
    *,
    application_name: str,
    attempts: int,
    min_size: int = 1,
    max_size: int = 10,
    command_timeout_s: float = PG_COMMAND_TIMEOUT_S,
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
