"""``keyforge-assetmgr``: the asset write master; ``--check`` for container healthchecks."""

from __future__ import annotations

import argparse

import httpx
from fastapi import FastAPI

from keyforge_assetmgr.app import create_app
from keyforge_assetmgr.config import AssetMgrSettings
from keyforge_shared.serve import configure_logging, serve_service
from keyforge_shared.settings import load_settings

CHECK_TIMEOUT_S = 3.0


def check_alive(port: int) -> bool:
    """True when the manager on this host answers its health probe."""
    try:
        response = httpx.get(f"http://127.0.0.1:{port}/health", timeout=CHECK_TIMEOUT_S)
    except httpx.HTTPError:
        return False
    return response.status_code == 200


def main() -> None:
    parser = argparse.ArgumentParser(prog="keyforge-assetmgr", description=__doc__)
    parser.add_argument(
        "--check", action="store_true", help="exit 0 if the manager is alive, 1 otherwise"
    )
    args = parser.parse_args()
    settings = load_settings(AssetMgrSettings, "keyforge-assetmgr")
    if args.check:
        raise SystemExit(0 if check_alive(settings.listen_port) else 1)
    configure_logging(settings.log_level)
    serve_service("keyforge_assetmgr.main:app_from_env", settings)


def app_from_env() -> FastAPI:
    """The app of one worker process (settings were validated by ``main`` already)."""
    return create_app(load_settings(AssetMgrSettings, "keyforge-assetmgr"))
