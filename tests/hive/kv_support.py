"""Helpers for the KV tests: jobs and leases written the way the jobs code stores them."""

from __future__ import annotations

import hashlib
from typing import Any

import asyncpg
import httpx

from keyforge_shared.protocol import headers as wire
from tests.hive import conftest
from tests.hive.conftest import ADMIN_HEADERS


def job_id(name: str) -> str:
    return hashlib.sha256(name.encode()).hexdigest()


async def sql(database_url: str, query: str, *args: Any) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(database_url)
    try:
        return await conn.fetch(query, *args)
    finally:
        await conn.close()


async def add_job(database_url: str, job: str, *, status: str = "active") -> None:
    await sql(
        database_url,
        "INSERT INTO jobs (job_id, spec, keyboard, status) VALUES ($1, '{}', 'kb', $2)",
        job,
        status,
    )


async def lease(database_url: str, job: str, node_id: str, *, seconds: int = 300) -> None:
    """A lease row as ``job_leases`` holds it (migration 0003); negative: already expired."""
    await sql(
        database_url,
        "INSERT INTO job_leases (job_id, slot, attempt, lease_token, node_id, expires_at)"
        " VALUES ($1, (SELECT count(*) FROM job_leases WHERE job_id = $1), 1, 'tok', $2,"
        " now() + $3::integer * interval '1 second')",
        job,
        node_id,
        seconds,
    )


def node_headers(node_id: str) -> dict[str, str]:
    """A registered node's headers, naming itself as well (it must match the token)."""
    return {**conftest.node_headers(node_id), wire.NODE_ID: node_id}


async def admin_put(
    client: httpx.AsyncClient, path: str, value: str, ttl: int | None = None
) -> dict[str, Any]:
    body = {"value": value, "ttl": ttl}
    response = await client.put(f"/kv/{path}", json=body, headers=ADMIN_HEADERS)
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer
