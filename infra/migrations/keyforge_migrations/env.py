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


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def app_role_grants(role: str) -> list[str]:
    """What the hives' role may do: read and write rows, nothing else.

    No CREATE, ALTER, DROP, TRUNCATE, REFERENCES or TRIGGER: a stolen
    application password cannot change the schema or empty a table in one
    statement. The default privileges cover tables later migrations create
    (as this same owner role). alembic_version is read-only to it, so a hive
    started with KEYFORGE_MIGRATE=off can check the schema and nothing more.
    """
    who = quote_ident(role)
    dml = "SELECT, INSERT, UPDATE, DELETE"
    return [
        f"GRANT USAGE ON SCHEMA public TO {who}",
        f"REVOKE CREATE ON SCHEMA public FROM {who}",
        f"GRANT {dml} ON ALL TABLES IN SCHEMA public TO {who}",
        f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {who}",
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT {dml} ON TABLES TO {who}",
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO {who}",
        f"REVOKE INSERT, UPDATE, DELETE ON alembic_version FROM {who}",
    ]


def apply_migrations(connection: Connection) -> None:
    context.configure(connection=connection, transaction_per_migration=False)
    app_role = context.config.attributes.get("app_role")
    with context.begin_transaction():
        connection.exec_driver_sql(f"SET LOCAL statement_timeout = '{ADVISORY_WAIT}'")
        connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK_KEY})")
        connection.exec_driver_sql(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
        connection.exec_driver_sql(f"SET LOCAL statement_timeout = '{STATEMENT_TIMEOUT}'")
        context.run_migrations()
        # Granted on every run, under the same lock (concurrent GRANTs on one
        # table fail with "tuple concurrently updated"), so a role created or
        # renamed after the last migration is still set up.
        owner = connection.exec_driver_sql("SELECT current_user").scalar()
        if app_role and app_role != owner:
            for statement in app_role_grants(app_role):
                connection.exec_driver_sql(statement)


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
