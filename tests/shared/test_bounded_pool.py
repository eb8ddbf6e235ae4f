"""The bounded Postgres pool never loses a connection to a cancelled caller."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from keyforge_shared.connect import close_pool, connect_postgres


async def test_callers_cancelled_while_a_connection_arrives_give_it_back(
    empty_database_url: str,
) -> None:
    pool = await connect_postgres(
        empty_database_url, application_name="pool-test", attempts=1, max_size=1
    )
    try:
        # One connection, always busy: every caller waits for it, and many are
        # cancelled at every point of the hand-over, including the moment it arrives.
        for step in range(60):
            held = await pool.acquire()
            waiter = asyncio.create_task(take(pool))
            await asyncio.sleep(0)
            releasing = asyncio.create_task(pool.release(held))
            for _ in range(step % 12):
                await asyncio.sleep(0)
            waiter.cancel()
            await releasing
            try:
                got = await waiter
            except asyncio.CancelledError:
                continue
            await pool.release(got)
        assert pool.get_idle_size() == 1
        assert await pool.fetchval("SELECT 1") == 1
    finally:
        await asyncio.wait_for(pool.close(), 10)


async def take(pool: asyncpg.Pool) -> asyncpg.pool.PoolConnectionProxy:
    connection: asyncpg.pool.PoolConnectionProxy = await pool.acquire()
    return connection


async def test_closing_cuts_a_connection_still_held(empty_database_url: str) -> None:
    pool = await connect_postgres(empty_database_url, application_name="pool-test", attempts=1)
    held = await pool.acquire()
    await asyncio.wait_for(close_pool(pool, within_s=0.5), 5)
    with pytest.raises(asyncpg.InterfaceError):
        await held.fetchval("SELECT 1")
