"""The asset gateway answers CORS for the front end's origin alone, assets and manifest alike."""

from __future__ import annotations

import httpx
from redis.asyncio import Redis

from keyforge_assets.app import create_app
from tests.conftest import ValkeyFixture
from tests.hive.conftest import SYSTEM_ASSETS, publish_assets
from tests.support import assets_settings, serve_app

WEB = "https://keyforge.example:8443"
ACAO = "access-control-allow-origin"


async def test_only_the_front_end_origin_gets_cors(
    valkey: ValkeyFixture, valkey_admin: Redis
) -> None:
    await publish_assets(valkey, SYSTEM_ASSETS)
    settings = assets_settings(valkey_url=valkey.url("assets"), KEYFORGE_WEB_ORIGIN=WEB)
    async with serve_app(create_app(settings)) as url, httpx.AsyncClient(base_url=url) as client:
        manifest = await client.get("/manifest", headers={"Origin": WEB})
        assert manifest.headers.get(ACAO) == WEB
        sha = manifest.json()["files"]["keycodes.json"]
        for path in ("/manifest", f"/by-hash/{sha}", "/keycodes.json", "/nothing.json"):
            allowed = await client.get(path, headers={"Origin": WEB})
            assert allowed.headers.get(ACAO) == WEB, path
            refused = await client.get(path, headers={"Origin": "https://evil.example"})
            assert ACAO not in refused.headers, path
        head = await client.head("/keycodes.json", headers={"Origin": WEB})
        assert head.headers.get(ACAO) == WEB
        # The page may read the ETag it revalidates with.
        assert "etag" in head.headers["access-control-expose-headers"].lower()
