"""Node identity: the secret proves membership, the token proves which node (two hives)."""

from __future__ import annotations

import hashlib

import asyncpg

from keyforge_shared.keys import Keys
from keyforge_shared.protocol import headers as wire
from tests.hive.conftest import (
    ADMIN_HEADERS,
    NODE_HEADERS,
    NODE_TOKENS,
    HivePair,
    beat,
    node_headers,
    register,
    registration,
)
from tests.hive.jobs_support import create_job, job_spec, lease
from tests.hive.test_auth import assert_envelope

UNKNOWN = {**NODE_HEADERS, wire.NODE_TOKEN: "a-token-nobody-was-ever-given"}


async def test_the_first_registration_claims_the_id_and_the_hive_keeps_only_a_hash(
    hives: HivePair,
) -> None:
    first = (await register(hives.a, "n1")).json()
    token = first["node_token"]
    assert len(token) >= 22  # >= 128 bits of url-safe base64
    # Registering again with the token (on the other hive): no new token.
    again = (await register(hives.b, "n1")).json()
    assert "node_token" not in again
    conn = await asyncpg.connect(hives.database_url)
    try:
        row = await conn.fetchrow("SELECT * FROM nodes WHERE node_id = 'n1'")
    finally:
        await conn.close()
    assert row is not None
    digest = hashlib.sha256(token.encode()).digest()
    assert bytes(row["token_hash"]) == digest
    assert token not in repr(dict(row))
    stored = await hives.valkey.hget(Keys().node_registry(), "n1")
    assert stored == digest.hex().encode()


async def test_a_claimed_id_needs_its_token_or_the_admin(hives: HivePair) -> None:
    await register(hives.a, "n1")
    await register(hives.a, "n2")
    body = registration("n1")
    stranger = await hives.b.post("/nodes/register", json=body, headers=NODE_HEADERS)
    assert_envelope(stranger, 409, "node_id_taken")
    posing = await hives.b.post("/nodes/register", json=body, headers=node_headers("n2"))
    assert_envelope(posing, 409, "node_id_taken")
    unknown = await hives.b.post("/nodes/register", json=body, headers=UNKNOWN)
    assert_envelope(unknown, 409, "node_id_taken")
    operator = await hives.b.post("/nodes/register", json=body, headers=ADMIN_HEADERS)
    assert operator.status_code == 200
    assert "node_token" not in operator.json()
    # None of that changed n1's token.
    assert (await beat(hives.a, "n1")).status_code == 204


async def test_a_node_cannot_act_as_another(hives: HivePair, system_assets: set[str]) -> None:
    job_id = await create_job(hives.a, job_spec())
    await register(hives.a, "n1")
    await register(hives.b, "n2")
    as_n2 = node_headers("n2")
    hb = await hives.a.post("/nodes/n1/heartbeat", json={"ips": 1.0}, headers=as_n2)
    assert_envelope(hb, 403, "wrong_node")
    queue = await hives.b.get("/jobs/queue", params={"node_id": "n1", "wait": 0}, headers=as_n2)
    assert_envelope(queue, 403, "wrong_node")
    config = await hives.a.get("/nodes/n1/config", headers=as_n2)
    assert_envelope(config, 403, "wrong_node")
    named = await hives.b.get(f"/jobs/{job_id}/population", headers={**as_n2, wire.NODE_ID: "n1"})
    assert_envelope(named, 403, "wrong_node")
    result = {"job_id": job_id, "layout": "x", "score": 1.0, "node_id": "n1"}
    assert_envelope(await hives.a.post("/results", json=result, headers=as_n2), 403, "wrong_node")
    # The same requests as themselves, and by the admin for anyone.
    assert (await beat(hives.a, "n1")).status_code == 204
    assert (await lease(hives.b, "n1"))["job_id"] == job_id
    assert (await hives.a.get("/nodes/n1/config", headers=ADMIN_HEADERS)).status_code == 200
    admin_beat = await hives.b.post("/nodes/n2/heartbeat", json={"ips": 1}, headers=ADMIN_HEADERS)
    assert admin_beat.status_code == 204


async def test_a_missing_or_unknown_token_is_401(hives: HivePair, system_assets: set[str]) -> None:
    job_id = await create_job(hives.a, job_spec())
    await register(hives.a, "n1")
    requests = {
        "heartbeat": ("POST", "/nodes/n1/heartbeat", {"ips": 1.0}),
        "queue": ("GET", "/jobs/queue?node_id=n1&wait=0", None),
        "population": ("GET", f"/jobs/{job_id}/population", None),
        "score": ("POST", "/score", {"job_id": job_id, "layout": "x"}),
        "results": ("POST", "/results", {"job_id": job_id, "layout": "x", "score": 1.0,
                                         "node_id": "n1"}),
        "kv": ("PUT", f"/kv/vars/job/{job_id}/k", {"value": "v"}),
        "config": ("GET", "/nodes/n1/config", None),
    }  # fmt: skip
    for name, (method, path, body) in requests.items():
        for headers in (NODE_HEADERS, UNKNOWN):
            client = hives.a if headers is UNKNOWN else hives.b
            response = await client.request(method, path, json=body, headers=headers)
            assert response.status_code == 401, (name, response.text)
            assert response.json()["error"] == "node_token_required", name
    # POST /jobs names no node, so the contract does not make it node-scoped: the secret
    # alone creates a job, but a token that comes along must be a known one.
    other = job_spec(pinned_keys="0:KC_Q")
    assert (await hives.b.post("/jobs", json=other, headers=NODE_HEADERS)).status_code == 200
    unknown = await hives.a.post("/jobs", json=other, headers=UNKNOWN)
    assert unknown.status_code == 401
    assert unknown.json()["error"] == "node_token_required"


async def test_a_token_from_one_hive_works_on_the_other_and_after_a_valkey_loss(
    hives: HivePair,
) -> None:
    await register(hives.a, "n1")
    assert (await beat(hives.b, "n1")).status_code == 204
    await hives.valkey.flushall()
    assert (await beat(hives.b, "n1")).status_code == 404  # the node registers again...
    again = await register(hives.b, "n1")  # ...with its token, which Postgres still knows
    assert "node_token" not in again.json()
    assert (await beat(hives.a, "n1")).status_code == 204
    # A node that lost its token registers under a new id.
    lost = NODE_TOKENS.pop("n1")
    assert (await register(hives.a, "n1-new")).json()["node_token"] != lost
