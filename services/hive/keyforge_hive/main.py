"""``keyforge-hive``: migrate the schema, then serve; a failed migration never serves.

``keyforge-hive migrate`` only migrates (a rollout's init step, as the owner
role); ``KEYFORGE_MIGRATE=off`` makes the server skip migrating and instead
refuse a schema that is not at head.
"""

from __future__ import annotations

import argparse
import asyncio
import logging

from fastapi import FastAPI

from keyforge_hive.app import create_app
from keyforge_hive.config import HiveSettings
from keyforge_migrations import require_head, role_of, upgrade_to_head
from keyforge_shared.connect import wait_for_postgres
from keyforge_shared.serve import configure_logging, serve_service
from keyforge_shared.settings import load_settings, redact

log = logging.getLogger("keyforge_hive")


def migrate(settings: HiveSettings) -> None:
    """Bring the schema to head as the owner role and grant the application role its DML."""
    app_dsn = settings.database_url.get_secret_value()
    owner = settings.migration_database_url
    owner_dsn = owner.get_secret_value() if owner else app_dsn
    asyncio.run(wait_for_postgres(owner_dsn, attempts=settings.connect_attempts))
    upgrade_to_head(owner_dsn, settings.migrations_dir, app_role=role_of(app_dsn))


def check_schema(settings: HiveSettings) -> None:
    dsn = settings.database_url.get_secret_value()
    asyncio.run(wait_for_postgres(dsn, attempts=settings.connect_attempts))
    require_head(dsn, settings.migrations_dir)


def main() -> None:
    parser = argparse.ArgumentParser(prog="keyforge-hive")
    parser.add_argument(
        "command",
        nargs="?",
        choices=("serve", "migrate"),
        default="serve",
        help="serve (default; migrates first unless KEYFORGE_MIGRATE=off) or only migrate",
    )
    command = parser.parse_args().command
    settings = load_settings(HiveSettings, "keyforge-hive")
    configure_logging(settings.log_level)
    checking = command == "serve" and not settings.migrate
    try:
        if checking:
            check_schema(settings)
        else:
            migrate(settings)
    except Exception as exc:
        what = "schema check failed" if checking else "schema migration failed"
        if command == "serve":
            what += ", refusing to serve"
        log.critical("%s: %s: %s", what, type(exc).__name__, redact(str(exc))[:2000])
        raise SystemExit(1) from None
    if command == "migrate":
        log.info("schema at head")
        return
    serve_service("keyforge_hive.main:app_from_env", settings)


def app_from_env() -> FastAPI:
    """The app of one worker process (settings were validated by ``main`` already)."""
    return create_app(load_settings(HiveSettings, "keyforge-hive"))
