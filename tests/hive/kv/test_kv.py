"""Versioned KV: versions and history, TTL, encrypted secrets, tombstones, garbage collection."""

from __future__ import annotations

import asyncio
import base64
import logging
from typing import Any

import asyncpg
import pytest

from keyforge_hive.kv.gc import collect_garbage, sweep_expired
from keyforge_hive.kv.store import tombstone_job_namespaces
from keyforge_shared.kv_crypto import key_id, parse_secrets_key
from tests.conftest import ValkeyFixture
from tests.hive.conftest import ADMIN_HEADERS, HivePair, running_hives
from tests.hive.kv_support import add_job, admin_put, job_id, sql
from tests.support import SECRETS_KEY

J = job_id("job J")
PASSWORD = "hunter2-correct-horse-battery"
OTHER_KEY = base64.b64encode(b"another key, 32 bytes long......").decode()


async def with_connection(database_url: str, run: Any) -> Any:
    conn = await asyncpg.connect(database_url)
    try:
        return await run(conn)
    finally:
        await conn.close()


async def test_every_write_is_a_new_version_and_history_lists_them(hives: HivePair) -> None:
    for n in range(1, 4):
        assert (await admin_put(hives.a, "vars/fleet/motd", f"v{n}"))["version"] == n
    got = (await hives.b.get("/kv/vars/fleet/motd", headers=ADMIN_HEADERS)).json()
    assert (got["value"], got["version"], got["ttl"]) == ("v3", 3, None)
    assert set(got) >= {"namespace", "key", "value", "version", "ttl", "created_at"}
    deleted = await hives.a.delete("/kv/vars/fleet/motd", headers=ADMIN_HEADERS)
    assert deleted.json()["version"] == 4
    assert (await hives.a.get("/kv/vars/fleet/motd", headers=ADMIN_HEADERS)).status_code == 404
    assert (await hives.a.delete("/kv/vars/fleet/motd", headers=ADMIN_HEADERS)).status_code == 404
    history = await hives.a.get("/kv/vars/fleet?history=true", headers=ADMIN_HEADERS)
    states = [(k["version"], k["state"], k["value"]) for k in history.json()["keys"]]
    assert states == [
        (1, "superseded", "v1"),
        (2, "superseded", "v2"),
        (3, "superseded", "v3"),
        (4, "deleted", None),
    ]
    live = await hives.a.get("/kv/vars/fleet", headers=ADMIN_HEADERS)
    assert live.json() == {"namespace": "vars/fleet", "keys": []}


async def test_a_ttl_key_is_missing_the_moment_it_expires_then_swept_and_purged(
    hives: HivePair,
) -> None:
    await admin_put(hives.a, "vars/fleet/token", "short-lived", ttl=1)
    await admin_put(hives.a, "vars/fleet/keep", "forever", ttl=0)
    got = (await hives.a.get("/kv/vars/fleet/token", headers=ADMIN_HEADERS)).json()
    assert got["ttl"] == 1
    await asyncio.sleep(1.1)
    # No sweep has run yet: reads already treat it as missing.
    assert (await hives.b.get("/kv/vars/fleet/token", headers=ADMIN_HEADERS)).status_code == 404
    live = (await hives.a.get("/kv/vars/fleet", headers=ADMIN_HEADERS)).json()["keys"]
    assert [k["key"] for k in live] == ["keep"]
    assert live[0]["ttl"] is None

    async def sweep_and_collect(conn: asyncpg.Connection) -> tuple[int, dict[str, int]]:
        swept = await sweep_expired(conn)
        return swept, await collect_garbage(conn, retain_days=0, actor="test")

    swept, purged = await with_connection(hives.database_url, sweep_and_collect)
    assert swept == 1
    assert purged == {"expired": 1}
    rows = await sql(hives.database_url, "SELECT key FROM kv")
    assert [r["key"] for r in rows] == ["keep"]


async def test_gc_keeps_what_died_within_the_retention(hives: HivePair) -> None:
    for n in range(3):
        await admin_put(hives.a, "vars/fleet/a", f"a{n}")
    await admin_put(hives.a, "vars/fleet/b", "b0")
    await hives.a.delete("/kv/vars/fleet/b", headers=ADMIN_HEADERS)
    # Versions 1 of a was replaced 10 days ago; the rest happened just now.
    await sql(
        hives.database_url,
        "UPDATE kv SET created_at = created_at - interval '10 days'"
        " WHERE key = 'a' AND version <= 2",
    )

    async def collect(conn: asyncpg.Connection) -> dict[str, int]:
        return await collect_garbage(conn, retain_days=7, actor="test")

    assert await with_connection(hives.database_url, collect) == {"superseded": 1}
    left = await sql(hives.database_url, "SELECT key, version FROM kv ORDER BY key, version")
    assert [(r["key"], r["version"]) for r in left] == [("a", 2), ("a", 3), ("b", 1), ("b", 2)]

    async def collect_all(conn: asyncpg.Connection) -> dict[str, int]:
        return await collect_garbage(conn, retain_days=0, actor="test")

    assert await with_connection(hives.database_url, collect_all) == {
        "superseded": 2,
        "deleted": 1,
    }
    got = (await hives.a.get("/kv/vars/fleet/a", headers=ADMIN_HEADERS)).json()
    assert (got["value"], got["version"]) == ("a2", 3)


async def test_a_secret_is_sealed_at_rest_and_revealed_only_on_request(
    hives: HivePair, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    path = f"secrets/job/{J}/db_password"
    written = await admin_put(hives.a, path, PASSWORD)
    assert written["value"] is None
    assert written["secret"] is True
    hidden = (await hives.b.get(f"/kv/{path}", headers=ADMIN_HEADERS)).json()
    assert hidden["value"] is None
    shown = (await hives.b.get(f"/kv/{path}?reveal=true", headers=ADMIN_HEADERS)).json()
    assert shown["value"] == PASSWORD

    row = (await sql(hives.database_url, "SELECT kv.*, kv::text AS whole FROM kv"))[0]
    assert row["value"] is None
    assert row["key_id"] == key_id(parse_secrets_key(SECRETS_KEY))
    assert len(row["nonce"]) == 12
    assert len(row["ciphertext"]) == len(PASSWORD) + 16
    assert PASSWORD.encode() not in bytes(row["ciphertext"])
    assert PASSWORD not in row["whole"]
    audit = await sql(hives.database_url, "SELECT action, detail::text AS d FROM audit_log")
    assert {"kv.put", "kv.reveal"} <= {a["action"] for a in audit}
    assert all(PASSWORD not in a["d"] for a in audit)
    assert all(PASSWORD not in r.getMessage() for r in caplog.records)


async def test_two_writes_of_one_secret_never_share_a_nonce(hives: HivePair) -> None:
    for _ in range(2):
        await admin_put(hives.a, f"secrets/job/{J}/same", PASSWORD)
    rows = await sql(hives.database_url, "SELECT nonce, ciphertext FROM kv ORDER BY version")
    assert rows[0]["nonce"] != rows[1]["nonce"]
    assert rows[0]["ciphertext"] != rows[1]["ciphertext"]


async def test_a_ciphertext_moved_to_another_version_does_not_decrypt(hives: HivePair) -> None:
    path = f"secrets/job/{J}/api_token"
    await admin_put(hives.a, path, "first")
    await admin_put(hives.a, path, "second")
    await sql(
        hives.database_url,
        "UPDATE kv AS newer SET ciphertext = older.ciphertext, nonce = older.nonce"
        " FROM kv AS older WHERE newer.version = 2 AND older.version = 1",
    )
    response = await hives.a.get(f"/kv/{path}?reveal=true", headers=ADMIN_HEADERS)
    assert response.status_code == 503
    assert response.json()["error"] == "secret_undecryptable"
    assert "first" not in response.text


async def test_a_wrong_key_is_a_clear_error_and_a_rotation_reads_old_secrets(
    database_url: str, valkey: ValkeyFixture, valkey_admin: Any
) -> None:
    path = f"/kv/secrets/job/{J}/db_password"
    async with running_hives(database_url, valkey, count=1) as (hive,):
        await admin_put(hive, path.removeprefix("/kv/"), PASSWORD)
    old_id, new_id = key_id(parse_secrets_key(SECRETS_KEY)), key_id(parse_secrets_key(OTHER_KEY))
    async with running_hives(database_url, valkey, count=1, KEYFORGE_SECRETS_KEY=OTHER_KEY) as (
        hive,
    ):
        response = await hive.get(f"{path}?reveal=true", headers=ADMIN_HEADERS)
        assert response.status_code == 503
        assert response.json()["error"] == "secrets_key_mismatch"
        assert old_id in response.json()["detail"]
        assert new_id in response.json()["detail"]
        assert PASSWORD not in response.text
        # Metadata needs no key.
        assert (await hive.get(path, headers=ADMIN_HEADERS)).status_code == 200
    async with running_hives(
        database_url,
        valkey,
        count=1,
        KEYFORGE_SECRETS_KEY=OTHER_KEY,
        KEYFORGE_SECRETS_KEY_PREVIOUS=SECRETS_KEY,
    ) as (hive,):
        shown = await hive.get(f"{path}?reveal=true", headers=ADMIN_HEADERS)
        assert shown.json()["value"] == PASSWORD
        await admin_put(hive, path.removeprefix("/kv/"), "rotated")
    rows = await sql(database_url, "SELECT version, key_id FROM kv ORDER BY version")
    assert [(r["version"], r["key_id"]) for r in rows] == [(1, old_id), (2, new_id)]


async def test_without_a_key_secrets_are_refused_not_stored_in_clear(
    database_url: str, valkey: ValkeyFixture, valkey_admin: Any
) -> None:
    async with running_hives(database_url, valkey, count=1, KEYFORGE_SECRETS_KEY=None) as (hive,):
        response = await hive.put(
            f"/kv/secrets/job/{J}/x", json={"value": PASSWORD}, headers=ADMIN_HEADERS
        )
        assert response.status_code == 503
        assert response.json()["error"] == "secrets_key_missing"
        assert (await admin_put(hive, f"vars/job/{J}/x", "plain"))["version"] == 1
    assert await sql(database_url, "SELECT 1 FROM kv WHERE namespace LIKE 'secrets/%'") == []


async def test_cancelling_a_job_tombstones_its_namespaces(hives: HivePair) -> None:
    await add_job(hives.database_url, J)
    await admin_put(hives.a, f"vars/job/{J}/a", "1")
    await admin_put(hives.a, f"secrets/job/{J}/b", "2")
    await admin_put(hives.a, "vars/fleet/c", "3")
    cancelled = await hives.b.post(f"/jobs/{J}/cancel", headers=ADMIN_HEADERS)
    assert cancelled.status_code == 200, cancelled.text
    for path in (f"vars/job/{J}/a", f"secrets/job/{J}/b"):
        assert (await hives.a.get(f"/kv/{path}", headers=ADMIN_HEADERS)).status_code == 404
    assert (await hives.a.get("/kv/vars/fleet/c", headers=ADMIN_HEADERS)).status_code == 200
    audit = await sql(
        hives.database_url,
        "SELECT detail::text AS d FROM audit_log WHERE action = 'kv.tombstone_job'",
    )
    assert len(audit) == 1
    assert '"keys": 2' in audit[0]["d"]

    async def again(conn: asyncpg.Connection) -> int:
        return await tombstone_job_namespaces(conn, J, actor="admin")

    assert await with_connection(hives.database_url, again) == 0


BAD_PATHS = [
    ("GET", "/kv/vars/job/not-a-job/x", 404),
    ("GET", "/kv/secrets/fleet/x", 404),
    ("GET", "/kv/vars/fleet/bad key", 400),
    ("GET", "/kv/vars/fleet/..%2F..%2Fsecrets", 404),
    ("GET", "/kv/vars/fleet/a/b", 404),
    ("GET", "/kv/", 404),
    ("PUT", "/kv/vars/fleet", 400),
    ("PUT", f"/kv/vars/job/{J.upper()}/x", 404),
    ("DELETE", "/kv/vars/fleet", 400),
]
BAD_BODIES: list[Any] = [
    {"value": 1},
    {"value": "nul\u0000inside"},
    {"value": "x", "ttl": -1},
    {"value": "x", "extra": 1},
    {},
    ["x"],
]


async def test_paths_and_bodies_are_validated_strictly(hives: HivePair) -> None:
    for method, path, status in BAD_PATHS:
        response = await hives.a.request(method, path, json={"value": "x"}, headers=ADMIN_HEADERS)
        assert response.status_code == status, (method, path, response.text)
        assert set(response.json()) >= {"error", "detail"}
    for body in BAD_BODIES:
        response = await hives.a.put("/kv/vars/fleet/x", json=body, headers=ADMIN_HEADERS)
        assert response.status_code == 422, body
    for namespace in ("vars/fleet", f"secrets/job/{J}"):
        lone_surrogate = b'{"value": "\\ud800"}'  # valid JSON, not encodable text
        response = await hives.a.put(
            f"/kv/{namespace}/x",
            content=lone_surrogate,
            headers={**ADMIN_HEADERS, "content-type": "application/json"},
        )
        assert response.status_code == 422, response.text
    assert await sql(hives.database_url, "SELECT 1 FROM kv") == []
