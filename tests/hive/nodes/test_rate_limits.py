"""Per-node rate limits hold across hives: counted in the shared Valkey."""

from __future__ import annotations

from redis.asyncio import Redis

from tests.conftest import ValkeyFixture
from tests.hive.conftest import (
    ADMIN_HEADERS,
    NODE_HEADERS,
    node_headers,
    register,
    registration,
    running_hives,
    set_runtime_settings,
)


async def test_over_the_budget_is_429_with_retry_after_on_every_hive(
    database_url: str, valkey: ValkeyFixture, valkey_admin: Redis
) -> None:
    await set_runtime_settings(database_url, rate_register=3, rate_window_s=600)
    async with running_hives(database_url, valkey) as (a, b):
        await register(a, "n1")
        await register(b, "n1")
        await register(a, "n1")
        refused = await b.post(
            "/nodes/register", json=registration("n1"), headers=node_headers("n1")
        )
        assert refused.status_code == 429, refused.text
        body = refused.json()
        assert body["error"] == "rate_limited"
        retry_after = int(refused.headers["Retry-After"])
        assert 500 <= retry_after <= 600
        assert body["retry_after"] == retry_after
        # Per node: another node, and the operator, are not held back by n1's budget.
        await register(b, "n2")
        operator = await a.post("/nodes/register", json=registration("n1"), headers=ADMIN_HEADERS)
        assert operator.status_code == 200
        # An id nobody may claim again cannot be hammered either (counted before the claim).
        for _ in range(3):
            await a.post("/nodes/register", json=registration("n2"), headers=NODE_HEADERS)
        hammered = await b.post("/nodes/register", json=registration("n2"), headers=NODE_HEADERS)
        assert hammered.status_code == 429
