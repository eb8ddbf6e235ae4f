"""``keyforge-hive``: migrate the schema, then serve; a failed migration never serves."""

from __future__ import annotations

import asyncio
import logging

from fastapi import FastAPI

from keyforge_hive.app import create_app
from keyforge_hive.config import HiveSettings
from keyforge_migrations import upgrade_to_head
from keyforge_shared.connect import wait_for_postgres
from keyforge_shared.serve import configure_logging, serve_service
from keyforge_shared.settings import load_settings, redact

log = logging.getLogger("keyforge_hive")


def main() -> None:
    settings = load_settings(HiveSettings, "keyforge-hive")
    configure_logging(settings.log_level)
    dsn = settings.database_url.get_secret_value()
    try:
        asyncio.run(wait_for_postgres(dsn, attempts=settings.connect_attempts))
        upgrade_to_head(dsn, settings.migrations_dir)
    except Exception as exc:
        log.critical(
            "schema migration failed, refusing to serve: %s: %s",
            type(exc).__name__,
            redact(str(exc))[:2000],
        )
        raise SystemExit(1) from None
    serve_service("keyforge_hive.main:app_from_env", settings)


def app_from_env() -> FastAPI:
    """The app of one worker process (settings were validated by ``main`` already)."""
    return create_app(load_settings(HiveSettings, "keyforge-hive"))
