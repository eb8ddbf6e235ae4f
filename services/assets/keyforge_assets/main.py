"""``keyforge-assets``: the read-only asset gateway."""

from __future__ import annotations

from fastapi import FastAPI

from keyforge_assets.app import create_app
from keyforge_assets.config import AssetsSettings
from keyforge_shared.serve import configure_logging, serve_service
from keyforge_shared.settings import load_settings


def main() -> None:
    settings = load_settings(AssetsSettings, "keyforge-assets")
    configure_logging(settings.log_level)
    serve_service("keyforge_assets.main:app_from_env", settings)


def app_from_env() -> FastAPI:
    """The app of one worker process (settings were validated by ``main`` already)."""
    return create_app(load_settings(AssetsSettings, "keyforge-assets"))
