"""Result retention: old results that are no longer among a job's best are pruned.

Each pass reads ``result_retention_days`` from the live settings, so an
operator's change applies at the next pass. A result survives when it is
younger than that, or among its job's ``KEEP_BEST`` best scores (the
population a node seeds from is the best 45), or a record (the job's history
of improvements). Deletes go in small batches, each its own transaction
under a try-lock, so a pass never holds a long lock and two hives never
prune at once.
"""

from __future__ import annotations

import asyncpg

KEEP_BEST = 50
BATCH = 5_000
# A batch may take longer than a request's budget (the pool's default timeouts).
BATCH_TIMEOUT_S = 60
_LOCK = (0x6B76, 0x7265)  # ("kv", "re"): a two-int advisory lock of our own

_PRUNE = """
WITH keep AS (
    SELECT j.job_id,
           (SELECT r.score FROM results AS r WHERE r.job_id = j.job_id
             ORDER BY r.score OFFSET $2 - 1 LIMIT 1) AS worst_kept
      FROM jobs AS j
), doomed AS (
    SELECT r.result_id
      FROM results AS r JOIN keep AS k USING (job_id)
     WHERE r.created_at < now() - $1::integer * interval '1 day'
       AND NOT r.is_record
       AND k.worst_kept IS NOT NULL AND r.score > k.worst_kept
     LIMIT $3
)
DELETE FROM results WHERE result_id IN (SELECT result_id FROM doomed)
"""


async def prune_results(
    pool: asyncpg.Pool, retention_days: int, *, keep_best: int = KEEP_BEST, batch: int = BATCH
) -> int:
    """One pass; how many results it deleted (0 when another hive is pruning)."""
    total = 0
    while True:
        async with pool.acquire() as conn, conn.transaction():
            if not await conn.fetchval("SELECT pg_try_advisory_xact_lock($1, $2)", *_LOCK):
                return total
            await conn.execute(f"SET LOCAL statement_timeout = '{BATCH_TIMEOUT_S}s'")
            status = await conn.execute(
                _PRUNE, retention_days, keep_best, batch, timeout=BATCH_TIMEOUT_S + 5
            )
        deleted = int(status.rsplit(" ", 1)[-1])
        total += deleted
        if deleted < batch:
            return total
