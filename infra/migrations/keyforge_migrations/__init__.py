"""Alembic migrations for the hive's Postgres schema, and the function that applies them.

Policy: expand/contract. Adding is always safe; a migration that drops a table
or column must name, in its ``CONTRACT`` mapping, the release that stopped
using it (``keyforge_migrations.policy`` checks this and a test enforces it).
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from alembic import command
from alembic.config import Config

# pg_advisory_xact_lock key: "kfmig" in ASCII. Two hives starting together
# serialise on it, and the second finds nothing left to do.
MIGRATION_LOCK_KEY = 0x6B666D6967


def scripts_dir() -> Path:
    return Path(str(files(__name__)))


def alembic_config(database_url: str, scripts: Path | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(scripts or scripts_dir()))
    # Kept out of the ini options: Config interpolates '%' there, and passwords may hold one.
    config.attributes["database_url"] = database_url
    return config


def upgrade_to_head(database_url: str, scripts: Path | None = None) -> None:
    """Apply every pending migration in one transaction under the migration lock."""
    command.upgrade(alembic_config(database_url, scripts), "head")
