"""Alembic migrations for the hive's Postgres schema, and the function that applies them.

Policy: expand/contract. Adding is always safe; a migration that drops a table
or column must name, in its ``CONTRACT`` mapping, the release that stopped
using it (``keyforge_migrations.policy`` checks this and a test enforces it).
"""

from __future__ import annotations

import asyncio
from importlib.resources import files
from pathlib import Path
from urllib.parse import unquote, urlsplit

import asyncpg
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory

# pg_advisory_xact_lock key: "kfmig" in ASCII. Two hives starting together
# serialise on it, and the second finds nothing left to do.
MIGRATION_LOCK_KEY = 0x6B666D6967


def scripts_dir() -> Path:
    return Path(str(files(__name__)))


class SchemaNotAtHead(RuntimeError):
    """The database's schema is not the one this code was written for."""


def alembic_config(
    database_url: str, scripts: Path | None = None, *, app_role: str | None = None
) -> Config:
    config = Config()
    config.set_main_option("script_location", str(scripts or scripts_dir()))
    # Kept out of the ini options: Config interpolates '%' there, and passwords may hold one.
    config.attributes["database_url"] = database_url
    config.attributes["app_role"] = app_role
    return config


def role_of(database_url: str) -> str | None:
    """The role a postgresql:// URL logs in as (None when it names none)."""
    user = urlsplit(database_url).username
    return unquote(user) if user else None


def upgrade_to_head(
    database_url: str, scripts: Path | None = None, *, app_role: str | None = None
) -> None:
    """Apply every pending migration in one transaction under the migration lock.

    ``database_url`` is the owner's; ``app_role``, when another role, is then
    granted the DML the hive needs on every table and sequence (``env.py``).
    """
    command.upgrade(alembic_config(database_url, scripts, app_role=app_role), "head")


def head_revision(scripts: Path | None = None) -> str:
    head = ScriptDirectory.from_config(alembic_config("", scripts)).get_current_head()
    if head is None:
        raise SchemaNotAtHead("the migration scripts have no head")
    return head


async def current_revision(database_url: str) -> str | None:
    """The revision the database is at; None for a database never migrated."""
    conn = await asyncpg.connect(database_url, timeout=10)
    try:
        exists = await conn.fetchval("SELECT to_regclass('alembic_version') IS NOT NULL")
        if not exists:
            return None
        revision: str | None = await conn.fetchval("SELECT version_num FROM alembic_version")
        return revision
    finally:
        await conn.close()


def require_head(database_url: str, scripts: Path | None = None) -> None:
    """Raise ``SchemaNotAtHead`` unless the database is exactly at this code's head."""
    head = head_revision(scripts)
    current = asyncio.run(current_revision(database_url))
    if current != head:
        found = f"at revision {current}" if current else "not migrated at all"
        raise SchemaNotAtHead(
            f"the database schema is {found}, this hive needs {head}: "
            "run `keyforge-hive migrate` with the owner role first"
        )
