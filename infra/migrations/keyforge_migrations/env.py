"""Alembic environment: one transaction, an advisory lock, bounded lock waits."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from keyforge_migrations import MIGRATION_LOCK_KEY

# Waiting for another hive to finish migrating is normal; waiting on a table
# lock held by live traffic is not: give up quickly and crash, retry on restart.
ADVISORY_WAIT = "120s"
LOCK_TIMEOUT = "5s"
STATEMENT_TIMEOUT = "60s"


def sqlalchemy_url(database_url: str) -> str:
    scheme, sep, rest = database_url.partition("://")
    if not sep or scheme not in {"postgres", "postgresql", "postgresql+asyncpg"}:
        raise ValueError("DATABASE_URL must be a postgresql:// URL")
    return f"postgresql+asyncpg://{rest}"


def apply_migrations(connection: Connection) -> None:
    context.configure(connection=connection, transaction_per_migration=False)
    with context.begin_transaction():
        connection.exec_driver_sql(f"SET LOCAL statement_timeout = '{ADVISORY_WAIT}'")
        connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK_KEY})")
        connection.exec_driver_sql(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
        connection.exec_driver_sql(f"SET LOCAL statement_timeout = '{STATEMENT_TIMEOUT}'")
        context.run_migrations()


async def run_online() -> None:
    url = sqlalchemy_url(context.config.attributes["database_url"])
    engine = create_async_engine(
        url,
        poolclass=NullPool,
        connect_args={"server_settings": {"application_name": "keyforge-migrate"}},
    )
    try:
        async with engine.connect() as connection:
            await connection.run_sync(apply_migrations)
    finally:
        await engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline SQL generation is not supported; run against a database")
asyncio.run(run_online())
