from __future__ import annotations

import httpx
import pytest
from redis.asyncio import Redis

from keyforge_shared.protocol import headers as wire
from tests.conftest import ValkeyFixture
from tests.hive.conftest import ADMIN_HEADERS, NODE_HEADERS, HivePair, registration, running_hives
from tests.support import ADMIN_SECRET, NODE_SECRET

OLD_NODE = "previous-node-secret-0123456789"
OLD_ADMIN = "previous-admin-secret-0123456789"


def assert_envelope(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"] == code
    assert isinstance(body["detail"], str)
    assert body["detail"]


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {wire.NODE_SECRET: "wrong"},
        {wire.NODE_SECRET: NODE_SECRET + "x"},
        {wire.ADMIN_SECRET: "nope"},
    ],
)
async def test_node_endpoint_refuses_missing_or_wrong_secret(
    hives: HivePair, headers: dict[str, str]
) -> None:
    response = await hives.a.post("/nodes/register", json=registration("n1"), headers=headers)
    assert_envelope(response, 401, "unauthorized")


async def test_node_endpoints_accept_the_admin_secret(hives: HivePair) -> None:
    response = await hives.a.post("/nodes/register", json=registration("n1"), headers=ADMIN_HEADERS)
    assert response.status_code == 200


async def test_admin_endpoint_roles(hives: HivePair) -> None:
    assert_envelope(await hives.a.get("/nodes", headers=NODE_HEADERS), 403, "forbidden")
    # The node secret in the admin header is still only the node role.
    only_node = {wire.ADMIN_SECRET: NODE_SECRET}
    assert_envelope(await hives.a.get("/nodes", headers=only_node), 403, "forbidden")
    assert_envelope(await hives.a.get("/nodes"), 401, "unauthorized")
    assert_envelope(
        await hives.a.get("/nodes", headers={wire.ADMIN_SECRET: "x"}), 401, "unauthorized"
    )
    assert (await hives.a.get("/nodes", headers=ADMIN_HEADERS)).status_code == 200


async def test_previous_secrets_only_while_configured(
    database_url: str, valkey: ValkeyFixture, valkey_admin: Redis
) -> None:
    rotating = {"HIVE_SECRET_PREVIOUS": OLD_NODE, "HIVE_ADMIN_SECRET_PREVIOUS": OLD_ADMIN}
    async with running_hives(database_url, valkey, count=1, **rotating) as (hive,):
        old_node = {wire.NODE_SECRET: OLD_NODE}
        assert (
            await hive.post("/nodes/register", json=registration("n1"), headers=old_node)
        ).status_code == 200
        assert (await hive.get("/nodes", headers={wire.ADMIN_SECRET: OLD_ADMIN})).status_code == 200
        assert (await hive.get("/nodes", headers=old_node)).status_code == 403
    async with running_hives(database_url, valkey, count=1) as (hive,):
        response = await hive.post(
            "/nodes/register", json=registration("n1"), headers={wire.NODE_SECRET: OLD_NODE}
        )
        assert_envelope(response, 401, "unauthorized")
        response = await hive.get("/nodes", headers={wire.ADMIN_SECRET: OLD_ADMIN})
        assert_envelope(response, 401, "unauthorized")
        assert (
            await hive.get("/nodes", headers={wire.ADMIN_SECRET: ADMIN_SECRET})
        ).status_code == 200


async def test_bad_bodies_get_envelopes(hives: HivePair) -> None:
    client = hives.a
    too_big = b'{"node_id": "' + b"x" * (2 * 1024 * 1024) + b'"}'
    response = await client.post(
        "/nodes/register",
        content=too_big,
        headers={**NODE_HEADERS, "content-type": "application/json"},
    )
    assert_envelope(response, 413, "body_too_large")

    async def chunks() -> object:
        for _ in range(40):
            yield b"x" * 65536

    response = await client.post(
        "/nodes/register",
        content=chunks(),  # type: ignore[arg-type]
        headers={**NODE_HEADERS, "content-type": "application/json"},
    )
    assert_envelope(response, 413, "body_too_large")
    response = await client.post(
        "/nodes/register",
        content=b"node_id=n1",
        headers={**NODE_HEADERS, "content-type": "text/plain"},
    )
    assert_envelope(response, 415, "unsupported_media_type")
    response = await client.post(
        "/nodes/register",
        content=b"{not json",
        headers={**NODE_HEADERS, "content-type": "application/json"},
    )
    assert_envelope(response, 422, "validation_error")
