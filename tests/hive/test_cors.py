"""The hive answers CORS for the front end's origin alone, on routed and raw ASGI paths."""

from __future__ import annotations

import httpx

from tests.conftest import ValkeyFixture
from tests.hive.conftest import running_hives

WEB = "https://keyforge.example:8443"
OTHER = "https://evil.example"
ACAO = "access-control-allow-origin"


async def _events_headers(client: httpx.AsyncClient, origin: str) -> httpx.Headers:
    async with client.stream("GET", "/events", headers={"Origin": origin}) as response:
        assert response.status_code == 200
        return response.headers


async def test_only_the_front_end_origin_gets_cors(
    database_url: str, valkey: ValkeyFixture
) -> None:
    async with running_hives(
        database_url, valkey, count=1, KEYFORGE_DOMAIN="keyforge.example", KEYFORGE_WEB_ORIGIN=WEB
    ) as (client,):
        for path in ("/cluster/stats", "/jobs", "/livez", f"/jobs/{'0' * 64}"):
            allowed = await client.get(path, headers={"Origin": WEB})
            assert allowed.headers.get(ACAO) == WEB, path
            assert "origin" in allowed.headers.get("vary", "").lower()
            refused = await client.get(path, headers={"Origin": OTHER})
            assert ACAO not in refused.headers, path
        # The 404 above is an error envelope: the page reads it too.
        missing = await client.get(f"/jobs/{'0' * 64}", headers={"Origin": WEB})
        assert missing.status_code == 404

        # /events and the heartbeat are plain ASGI endpoints.
        assert (await _events_headers(client, WEB)).get(ACAO) == WEB
        assert ACAO not in await _events_headers(client, OTHER)
        beat = await client.post(
            "/nodes/nobody/heartbeat", json={"ips": 1}, headers={"Origin": WEB}
        )
        assert beat.headers.get(ACAO) == WEB

        # EventSource resuming sends Last-Event-ID: a preflight the page's origin passes.
        preflight = {
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "last-event-id",
        }
        ok = await client.options("/events", headers={"Origin": WEB, **preflight})
        assert ok.status_code == 200
        assert ok.headers[ACAO] == WEB
        assert "GET" in ok.headers["access-control-allow-methods"]
        refused = await client.options("/events", headers={"Origin": OTHER, **preflight})
        assert refused.status_code == 400
        assert ACAO not in refused.headers


async def test_default_origin_is_the_domain_behind_443(
    database_url: str, valkey: ValkeyFixture
) -> None:
    async with running_hives(database_url, valkey, count=1, KEYFORGE_DOMAIN="kf.example") as (
        client,
    ):
        allowed = await client.get("/livez", headers={"Origin": "https://kf.example"})
        assert allowed.headers.get(ACAO) == "https://kf.example"
        with_port = await client.get("/livez", headers={"Origin": "https://kf.example:8443"})
        assert ACAO not in with_port.headers
