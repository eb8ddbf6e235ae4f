from __future__ import annotations

from pathlib import Path

import httpx

from keyforge_assets.app import create_app
from tests.conftest import start_valkey
from tests.support import assets_settings, serve_app, wait_until


async def test_gateway_health_follows_valkey(tmp_path: Path) -> None:
    valkey = start_valkey(tmp_path)
    try:
        app = create_app(assets_settings(valkey_url=valkey.url("assets")))
        async with serve_app(app) as url, httpx.AsyncClient(base_url=url) as client:
            response = await client.get("/health")
            assert response.json() == {"status": "ok", "checks": {"valkey": "ok"}}

            valkey.server.stop()
            response = await client.get("/health")
            assert response.status_code == 503
            assert response.json()["checks"] == {"valkey": "fail"}
            assert response.json()["error"] == "dependency_down"

            valkey.server.start()

            async def healthy() -> bool:
                return (await client.get("/health")).status_code == 200

            await wait_until(healthy, timeout_s=15)
    finally:
        valkey.server.stop()
