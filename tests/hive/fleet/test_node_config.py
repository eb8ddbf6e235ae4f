"""Layered node config on two real hives: validation, merging, the version on every beat,
and the lease path honouring ``paused`` and ``max_leases``."""

from __future__ import annotations

from typing import Any

import asyncpg
import httpx
import pytest

from keyforge_shared.protocol import headers as wire
from tests.hive.conftest import ADMIN_HEADERS, NODE_HEADERS, HivePair, beat, node_headers, register
from tests.hive.jobs_support import create_job, job_spec, lease
from tests.support import wait_until


async def put_layer(client: httpx.AsyncClient, path: str, layer: dict[str, Any]) -> Any:
    response = await client.put(path, json=layer, headers=ADMIN_HEADERS)
    assert response.status_code == 200, response.text
    return response.json()


async def node_config(client: httpx.AsyncClient, node_id: str) -> dict[str, Any]:
    response = await client.get(f"/nodes/{node_id}/config", headers=node_headers(node_id))
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


async def test_invalid_layers_get_422_naming_each_field_and_change_nothing(
    hives: HivePair,
) -> None:
    bad = {"thread_count": 0, "background": "yes", "max_leases": -1, "paused": 1, "colour": "red"}
    for path in ("/fleet/config", "/fleet/config/groups/lab", "/fleet/config/nodes/n1"):
        response = await hives.a.put(path, json=bad, headers=ADMIN_HEADERS)
        assert response.status_code == 422, response.text
        body = response.json()
        assert body["error"] == "validation_error"
        assert body["fields"] == ["background", "colour", "max_leases", "paused", "thread_count"]
    response = await hives.a.put("/fleet/config", json=[1], headers=ADMIN_HEADERS)
    assert response.status_code == 422
    response = await hives.a.put("/fleet/config", json={}, headers=NODE_HEADERS)
    assert response.status_code == 403
    answer = (await hives.b.get("/fleet/config", headers=ADMIN_HEADERS)).json()
    assert (answer["layer"], answer["version"]) == ({}, 0)


async def test_node_beats_group_beats_fleet_and_every_hive_tells_the_version(
    hives: HivePair,
) -> None:
    registered = (await register(hives.a, "n1", labels={"group": "lab"})).json()
    assert registered["config"]["version"] == 0
    assert registered["config"]["config"] == {
        "thread_count": None,
        "background": False,
        "max_leases": None,
        "paused": False,
    }
    await register(hives.a, "n2", labels={"group": "lab"})
    await put_layer(hives.a, "/fleet/config", {"thread_count": 2, "background": True})
    await put_layer(hives.a, "/fleet/config/groups/lab", {"thread_count": 3})
    written = await put_layer(hives.b, "/fleet/config/nodes/n1", {"thread_count": 5})
    assert written["version"] == 3
    assert written["layer"] == {"thread_count": 5}

    one, two = await node_config(hives.b, "n1"), await node_config(hives.a, "n2")
    assert (one["group"], one["version"]) == ("lab", 3)
    assert one["config"]["thread_count"] == 5
    assert one["sources"]["thread_count"] == "node"
    assert two["config"]["thread_count"] == 3
    assert two["sources"]["thread_count"] == "group"
    assert one["config"]["background"] is True
    assert one["sources"]["background"] == "fleet"

    async def beats_say(version: int) -> bool:
        answers = [await beat(hives.a, "n1"), await beat(hives.b, "n1")]
        return all(a.headers[wire.CONFIG_VERSION] == str(version) for a in answers)

    await wait_until(lambda: beats_say(3), timeout_s=5)
    response = await hives.a.delete("/fleet/config/nodes/n1", headers=ADMIN_HEADERS)
    assert (response.status_code, response.json()["layer"]) == (200, {})
    await wait_until(lambda: beats_say(4), timeout_s=5)
    assert (await node_config(hives.b, "n1"))["config"]["thread_count"] == 3

    response = await hives.a.get("/nodes/ghost/config", headers=ADMIN_HEADERS)
    assert (response.status_code, response.json()["error"]) == (404, "unknown_node")
    # n1's token asking for another node's config: refused (check_node_scope).
    response = await hives.a.get("/nodes/ghost/config", headers=node_headers("n1"))
    assert (response.status_code, response.json()["error"]) == (403, "wrong_node")
    response = await hives.a.get("/nodes/n1/config", headers=NODE_HEADERS)
    assert (response.status_code, response.json()["error"]) == (401, "node_token_required")
    assert (await hives.a.get("/nodes/n1/config")).status_code == 401

    conn = await asyncpg.connect(hives.database_url)
    try:
        rows = await conn.fetch("SELECT actor, action, target FROM audit_log ORDER BY audit_id")
    finally:
        await conn.close()
    changes = [tuple(r) for r in rows if r["action"].startswith("node_config")]
    assert changes == [
        ("admin", "node_config.put", "node_config/fleet"),
        ("admin", "node_config.put", "node_config/group/lab"),
        ("admin", "node_config.put", "node_config/node/n1"),
        ("admin", "node_config.delete", "node_config/node/n1"),
    ]


@pytest.fixture
def runtime_cap_lifted(monkeypatch: pytest.MonkeyPatch) -> None:
    """The fleet-wide max_leases_per_node (default 1) seeded high: the layers alone cap."""
    monkeypatch.setenv("KEYFORGE_SETTING_MAX_LEASES_PER_NODE", "100")


async def test_a_paused_or_capped_node_gets_no_new_lease(
    runtime_cap_lifted: None, hives: HivePair, system_assets: set[str]
) -> None:
    job_id = await create_job(hives.a, job_spec())
    await register(hives.a, "n1", labels={"group": "lab"})
    await put_layer(hives.a, "/fleet/config/groups/lab", {"paused": True})
    await wait_until(lambda: _version_is(hives.b, 1), timeout_s=5)
    assert (await lease(hives.b, "n1"))["job_id"] is None
    # The node's own layer overrides its group's.
    await put_layer(hives.a, "/fleet/config/nodes/n1", {"paused": False, "max_leases": 2})
    await wait_until(lambda: _version_is(hives.b, 2), timeout_s=5)
    assert (await lease(hives.b, "n1"))["job_id"] == job_id
    assert (await lease(hives.a, "n1"))["job_id"] == job_id
    assert (await lease(hives.b, "n1"))["job_id"] is None  # two live leases: its cap
    await put_layer(hives.a, "/fleet/config/nodes/n1", {"max_leases": 0})
    await wait_until(lambda: _version_is(hives.b, 3), timeout_s=5)
    await register(hives.a, "n2")
    assert (await lease(hives.b, "n2"))["job_id"] == job_id  # not in the group: unaffected


async def _version_is(client: httpx.AsyncClient, version: int) -> bool:
    answer = await beat(client, "n1")
    return bool(answer.headers.get(wire.CONFIG_VERSION) == str(version))
