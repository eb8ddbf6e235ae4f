from __future__ import annotations

import asyncio
import secrets
from pathlib import Path

import httpx

from keyforge_devstack.embedded import PostgresServer
from keyforge_hive.app import create_app
from keyforge_migrations import upgrade_to_head
from keyforge_shared.processes import free_port
from tests.conftest import postgres_workdir, start_valkey
from tests.support import hive_settings, serve_app, wait_until


async def healthy(client: httpx.AsyncClient) -> bool:
    return (await client.get("/health")).status_code == 200


async def test_health_names_valkey_while_it_is_down_and_recovers(
    tmp_path: Path, database_url: str
) -> None:
    valkey = start_valkey(tmp_path)
    try:
        settings = hive_settings(database_url=database_url, valkey_url=valkey.url("hive"))
        async with serve_app(create_app(settings)) as url, httpx.AsyncClient(base_url=url) as c:
            response = await c.get("/health")
            assert response.status_code == 200
            assert response.json() == {"status": "ok", "checks": {"postgres": "ok", "valkey": "ok"}}

            valkey.server.stop()
            response = await c.get("/health")
            assert response.status_code == 503
            body = response.json()
            assert body["error"] == "dependency_down"
            assert "valkey" in body["detail"]
            assert body["checks"] == {"postgres": "ok", "valkey": "fail"}
            assert int(response.headers["retry-after"]) > 0
            assert (await c.get("/livez")).json() == {"status": "ok"}

            valkey.server.start()
            await wait_until(lambda: healthy(c), timeout_s=15)
    finally:
        valkey.server.stop()


async def test_health_names_postgres_while_it_is_down_and_recovers(tmp_path: Path) -> None:
    with postgres_workdir() as workdir:
        await check_postgres_outage(tmp_path, workdir)


async def check_postgres_outage(tmp_path: Path, workdir: Path) -> None:
    postgres = PostgresServer(free_port(), workdir / "data", secrets.token_urlsafe(12))
    postgres.start()
    await asyncio.to_thread(postgres.ensure_database)
    await asyncio.to_thread(upgrade_to_head, postgres.dsn())
    valkey = start_valkey(tmp_path / "vk")
    try:
        settings = hive_settings(database_url=postgres.dsn(), valkey_url=valkey.url("hive"))
        async with serve_app(create_app(settings)) as url, httpx.AsyncClient(base_url=url) as c:
            assert await healthy(c)
            postgres.stop()
            response = await c.get("/health")
            assert response.status_code == 503
            assert response.json()["checks"] == {"postgres": "fail", "valkey": "ok"}
            assert "postgres" in response.json()["detail"]

            postgres.start()
            await wait_until(lambda: healthy(c), timeout_s=20)
    finally:
        valkey.server.stop()
        postgres.stop()
