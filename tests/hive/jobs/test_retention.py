"""Result retention: each pass prunes old results outside a job's best, per the live setting."""

from __future__ import annotations

import asyncio
from typing import Any

from redis.asyncio import Redis

from keyforge_hive.jobs.retention import KEEP_BEST
from keyforge_shared.runtime_settings import RuntimeSettings
from tests.conftest import ValkeyFixture
from tests.hive.conftest import ADMIN_HEADERS, running_hives
from tests.hive.kv_support import add_job, job_id, sql
from tests.support import wait_until

J = job_id("retention job")
# Per result: score (lower is better), age in days, record flag.
OLD, RECENT = 40, 5
RESULTS = 200


async def add_results(database_url: str) -> None:
    # Scores 0..199: the first KEEP_BEST are the job's best; every tenth result is recent,
    # and result 120 was once a record.
    await sql(
        database_url,
        """
        INSERT INTO results (job_id, node_id, layout, score, is_record, created_at)
        SELECT $1, 'n1', 'layout-' || i, i, i = 120,
               now() - CASE WHEN i % 10 = 0 THEN $3::integer ELSE $4::integer END * interval '1 day'
          FROM generate_series(0, $2 - 1) AS i
        """,
        J,
        RESULTS,
        RECENT,
        OLD,
    )


async def remaining(database_url: str) -> list[int]:
    rows = await sql(database_url, "SELECT score::integer AS s FROM results ORDER BY score")
    return [r["s"] for r in rows]


async def test_a_pass_prunes_per_the_live_retention_setting(
    database_url: str, valkey: ValkeyFixture, valkey_admin: Redis
) -> None:
    await add_job(database_url, J)
    await add_results(database_url)
    async with running_hives(database_url, valkey, KEYFORGE_RETENTION_PASS_S=0.2) as (a, _b):
        # The default keeps 90 days: several passes run, nothing is old enough.
        await asyncio.sleep(0.6)
        assert len(await remaining(database_url)) == RESULTS
        body: dict[str, Any] = RuntimeSettings(result_retention_days=30).model_dump()
        assert (await a.put("/settings", json=body, headers=ADMIN_HEADERS)).status_code == 200

        async def pruned() -> bool:
            return len(await remaining(database_url)) < RESULTS

        await wait_until(pruned, timeout_s=5)
    kept = await remaining(database_url)
    best = list(range(KEEP_BEST))
    recent = [i for i in range(KEEP_BEST, RESULTS) if i % 10 == 0]
    assert kept == sorted({*best, *recent, 120})
