from __future__ import annotations

import asyncio
import json
import math
from typing import Any

import asyncpg
import pytest

from tests.hive.conftest import (
    NODE_HEADERS,
    HivePair,
    register,
    registration,
    running_hives,
    set_runtime_settings,
)

COUNT_PROFILE_WRITES = """
CREATE TABLE profile_writes (n bigint NOT NULL);
INSERT INTO profile_writes VALUES (0);
CREATE FUNCTION count_profile_write() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN UPDATE profile_writes SET n = n + 1; RETURN NEW; END $$;
CREATE TRIGGER count_profile_write AFTER INSERT OR UPDATE ON hardware_profiles
    FOR EACH ROW EXECUTE FUNCTION count_profile_write();
"""


async def fetchval(database_url: str, sql: str, *args: Any) -> Any:
    conn = await asyncpg.connect(database_url)
    try:
        return await conn.fetchval(sql, *args)
    finally:
        await conn.close()


@pytest.mark.parametrize(
    ("l2", "ops", "cores", "tuning"),
    [
        (2048, 2e7, 8, {"strategy": "table", "batch_size": 50_000, "thread_count": 7}),
        (1024, 10_000_000, 1, {"strategy": "table", "batch_size": 10_000, "thread_count": 1}),
        (512, 5e6, 4, {"strategy": "fly", "batch_size": 10_000, "thread_count": 3}),
        (None, 5e7, 2, {"strategy": "fly", "batch_size": 50_000, "thread_count": 1}),
    ],
)
async def test_registration_returns_the_tuning(
    hives: HivePair, l2: int | None, ops: float, cores: int, tuning: dict[str, Any]
) -> None:
    response = await register(hives.a, "n1", l2_cache_kb=l2, ops_per_sec=ops, cores=cores)
    body = response.json()
    assert body["status"] == "registered"
    assert body["tuning"] == tuning
    assert body["heartbeat_interval_s"] == 10


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("ops_per_sec", math.inf),
        ("ops_per_sec", math.nan),
        ("ops_per_sec", -1),
        ("cores", 0),
        ("cores", 10**6),
        ("cpu_model", ""),
        ("cpu_model", "x" * 201),
        ("node_id", "has space"),
        ("node_id", "x" * 129),
        ("l2_cache_kb", -5),
        ("labels", {"k": "v" * 300}),
        ("labels", {f"k{i}": "v" for i in range(40)}),
    ],
)
async def test_registration_validates_input(hives: HivePair, field: str, value: Any) -> None:
    fields = registration("n1")
    fields[field] = value
    body = json.dumps(fields)  # NaN and Infinity go out as the JSON extensions
    response = await hives.a.post(
        "/nodes/register",
        content=body,
        headers={**NODE_HEADERS, "content-type": "application/json"},
    )
    assert response.status_code == 422, response.text
    assert response.json()["error"] == "validation_error"
    assert field in response.json()["detail"]


async def test_concurrent_registrations_write_the_profile_once(hives: HivePair) -> None:
    conn = await asyncpg.connect(hives.database_url)
    try:
        await conn.execute(COUNT_PROFILE_WRITES)
    finally:
        await conn.close()
    clients = [hives.a, hives.b]
    responses = await asyncio.gather(
        *(
            clients[i % 2].post(
                "/nodes/register", json=registration(f"node-{i}"), headers=NODE_HEADERS
            )
            for i in range(500)
        )
    )
    assert {r.status_code for r in responses} == {200}
    assert await fetchval(hives.database_url, "SELECT n FROM profile_writes") == 1
    assert await fetchval(hives.database_url, "SELECT count(*) FROM hardware_profiles") == 1
    assert await fetchval(hives.database_url, "SELECT count(*) FROM nodes") == 500


async def test_window_expiry_allows_the_next_write(
    database_url: str, valkey: Any, valkey_admin: Any
) -> None:
    await set_runtime_settings(database_url, profile_lock_window_s=1)
    async with running_hives(database_url, valkey, count=1) as (hive,):
        await register(hive, "n1", ops_per_sec=1000.0, arch="aarch64")
        await register(hive, "n2", ops_per_sec=5000.0, arch="aarch64")  # inside the window
        assert (
            await fetchval(database_url, "SELECT verified_ops_per_sec FROM hardware_profiles")
            == 1000.0
        )
        await asyncio.sleep(1.2)
        await register(hive, "n3", ops_per_sec=3000.0, arch="aarch64")
        row = await fetchval(
            database_url, "SELECT row(verified_ops_per_sec, arch)::text FROM hardware_profiles"
        )
        assert row == "(3000,aarch64)"
        await asyncio.sleep(1.2)
        # A slower machine of the same profile never lowers the verified speed.
        await register(hive, "n4", ops_per_sec=10.0, arch="aarch64")
        assert (
            await fetchval(database_url, "SELECT verified_ops_per_sec FROM hardware_profiles")
            == 3000.0
        )


async def test_reregistration_updates_the_node_row(hives: HivePair) -> None:
    await register(hives.a, "n1", cores=4, labels={"a": "1"})
    await register(hives.b, "n1", cores=8, labels={"b": "2"})
    row = await fetchval(hives.database_url, "SELECT row(cores, labels::text)::text FROM nodes")
    assert row == '(8,"{""b"": ""2""}")'
