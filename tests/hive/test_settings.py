"""Runtime settings: GET/PUT /settings, validation, audit, and live propagation."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from keyforge_assetmgr.app import create_app as create_manager_app
from keyforge_assets.app import create_app as create_gateway_app
from keyforge_shared.live_settings import RuntimeView
from keyforge_shared.protocol import headers as wire
from keyforge_shared.runtime_settings import RuntimeSettings
from tests.assetmgr.harness import manager_settings
from tests.conftest import ValkeyFixture
from tests.hive.conftest import (
    ADMIN_HEADERS,
    NODE_HEADERS,
    HivePair,
    node_headers,
    register,
    running_hives,
)
from tests.support import assets_settings, serve_app, wait_until

PROPAGATION_BOUND_S = 1.0


def settings_with(**fields: Any) -> dict[str, Any]:
    return RuntimeSettings(**fields).model_dump()


async def put_settings(client: httpx.AsyncClient, body: Any, **headers: str) -> httpx.Response:
    return await client.put("/settings", json=body, headers={**ADMIN_HEADERS, **headers})


async def interval_header(client: httpx.AsyncClient, node_id: str) -> str:
    response = await client.post(
        f"/nodes/{node_id}/heartbeat", json={"ips": 1.0}, headers=node_headers(node_id)
    )
    assert response.status_code == 204, response.text
    return response.headers[wire.HEARTBEAT_INTERVAL]


async def fetch(database_url: str, sql: str, *args: Any) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(database_url)
    try:
        return await conn.fetch(sql, *args)
    finally:
        await conn.close()


async def test_get_needs_the_admin_secret(hives: HivePair) -> None:
    assert (await hives.a.get("/settings")).status_code == 401
    assert (await hives.a.get("/settings", headers=NODE_HEADERS)).status_code == 403
    assert (await hives.a.put("/settings", json={}, headers=NODE_HEADERS)).status_code == 403
    response = await hives.a.get("/settings", headers=ADMIN_HEADERS)
    assert response.status_code == 200
    assert response.json() == RuntimeSettings().model_dump()
    assert response.headers["etag"].strip('"').isdigit()


async def test_a_change_on_hive_a_reaches_hive_b_within_a_second(hives: HivePair) -> None:
    await register(hives.b, "n1")
    assert await interval_header(hives.b, "n1") == "10"
    started = time.perf_counter()
    response = await put_settings(hives.a, settings_with(heartbeat_ttl_s=60))
    assert response.status_code == 200, response.text
    # Observed through behaviour: the TTL hive B gives the heartbeat it stores,
    # and the interval it tells its nodes.
    while True:
        header = await interval_header(hives.b, "n1")
        if await hives.valkey.ttl("kf:fleet:hb:2:n1") > 30:
            break
        assert time.perf_counter() - started < PROPAGATION_BOUND_S, "hive B still on the old TTL"
    latency = time.perf_counter() - started
    assert latency < PROPAGATION_BOUND_S
    assert await interval_header(hives.b, "n1") == "20"
    assert header in {"10", "20"}
    print(f"PUT /settings on hive A -> applied by hive B: {latency * 1000:.1f} ms")


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"heartbeat_ttl_s": 1}, "heartbeat_ttl_s"),
        ({"lease_s": "long"}, "lease_s"),
        ({"heartbeat_ttl_s": 300, "last_seen_flush_s": 100}, "last_seen_flush_s"),
        ({"backup_retention_days": 0}, "backup_retention_days"),
        ({"surprise": 1}, "surprise"),
    ],
)
async def test_invalid_settings_are_refused_naming_the_field(
    hives: HivePair, fields: dict[str, Any], named: str
) -> None:
    body = {**RuntimeSettings().model_dump(), **fields}
    response = await put_settings(hives.a, body)
    assert response.status_code == 422, response.text
    assert response.json()["error"] == "validation_error"
    assert named in response.json()["fields"]
    assert named in response.json()["detail"]
    stored = await hives.a.get("/settings", headers=ADMIN_HEADERS)
    assert stored.json() == RuntimeSettings().model_dump()


async def test_put_is_a_full_replace(hives: HivePair) -> None:
    response = await put_settings(hives.a, {"heartbeat_ttl_s": 60})
    assert response.status_code == 422
    assert "lease_s" in response.json()["fields"]
    assert (await put_settings(hives.a, [1, 2])).status_code == 422


async def test_if_match_refuses_a_lost_update(hives: HivePair) -> None:
    first = await hives.a.get("/settings", headers=ADMIN_HEADERS)
    etag = first.headers["etag"]
    changed = await put_settings(hives.b, settings_with(lease_s=600), **{"If-Match": etag})
    assert changed.status_code == 200
    assert changed.headers["etag"] != etag
    stale = await put_settings(hives.a, settings_with(lease_s=900), **{"If-Match": etag})
    assert stale.status_code == 409
    assert stale.json()["error"] == "settings_changed"
    assert (await hives.a.get("/settings", headers=ADMIN_HEADERS)).json()["lease_s"] == 600


async def test_every_change_is_audited_with_role_and_fields(hives: HivePair) -> None:
    await put_settings(hives.a, settings_with(lease_s=600))
    await put_settings(hives.b, settings_with(lease_s=600, result_retention_days=30))
    rows = await fetch(
        hives.database_url,
        "SELECT actor, action, detail FROM audit_log WHERE target = 'settings' ORDER BY audit_id",
    )
    assert [(r["actor"], r["action"]) for r in rows] == [
        ("hive", "settings.seed"),
        ("admin", "settings.update"),
        ("admin", "settings.update"),
    ]
    details = [json.loads(r["detail"]) for r in rows]  # a plain connection: jsonb as text
    assert details[1]["changed"] == {"lease_s": {"from": 300, "to": 600}}
    assert details[2]["changed"] == {"result_retention_days": {"from": 90, "to": 30}}
    assert details[2]["version"] > details[1]["version"]


async def test_env_seeds_an_absent_row_and_never_overwrites_an_edit(
    database_url: str, valkey: ValkeyFixture, valkey_admin: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KEYFORGE_SETTING_LEASE_S", "111")
    async with running_hives(database_url, valkey, count=1) as (hive,):
        assert (await hive.get("/settings", headers=ADMIN_HEADERS)).json()["lease_s"] == 111
        response = await put_settings(hive, settings_with(lease_s=222))
        assert response.status_code == 200
    async with running_hives(database_url, valkey, count=1) as (hive,):
        assert (await hive.get("/settings", headers=ADMIN_HEADERS)).json()["lease_s"] == 222


@contextlib.asynccontextmanager
async def served(app: FastAPI) -> AsyncIterator[FastAPI]:
    async with serve_app(app):
        yield app


async def test_gateway_and_assetmgr_apply_a_change_within_a_second(
    hives: HivePair, valkey: ValkeyFixture, tmp_path: Path
) -> None:
    gateway_app = create_gateway_app(assets_settings(valkey_url=valkey.url("assets")))
    manager_app = create_manager_app(
        manager_settings(valkey_url=valkey.url("assetmgr"), assets_dir=tmp_path)
    )
    async with served(gateway_app), served(manager_app):
        views: list[RuntimeView] = [
            gateway_app.state.gateway.runtime,
            manager_app.state.manager.runtime,
        ]
        # They read the hives' announcement at start-up.
        await wait_until(lambda: _all_at(views, "lease_s", 300), timeout_s=5)
        started = time.perf_counter()
        response = await put_settings(hives.a, settings_with(lease_s=777))
        assert response.status_code == 200
        await wait_until(
            lambda: _all_at(views, "lease_s", 777), timeout_s=PROPAGATION_BOUND_S, interval_s=0.005
        )
        latency = time.perf_counter() - started
        print(f"PUT /settings -> applied by the gateway and assetmgr: {latency * 1000:.1f} ms")


async def _all_at(views: list[RuntimeView], field: str, value: int) -> bool:
    return all(getattr(view.current, field) == value for view in views)


async def test_valkey_data_loss_is_healed_from_postgres(hives: HivePair) -> None:
    await put_settings(hives.a, settings_with(lease_s=600))
    await hives.valkey.flushall()

    async def announced_again() -> bool:
        return await hives.valkey.get("kf:ev:settings") is not None

    await wait_until(announced_again, timeout_s=12)
    assert b'"lease_s":600' in (await hives.valkey.get("kf:ev:settings") or b"")
