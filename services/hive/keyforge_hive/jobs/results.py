"""``store_result``: a verified result committed, fenced and counted in one transaction.

The job row is locked first (``FOR UPDATE``), so the results of one job are
stored one at a time: the best score, the result count and the record flag
can never disagree. A layout the job already holds answers what it answered
the first time (idempotent resend), before any lease check: a node that
resends after a lost answer is not punished for the slot having moved on.
The caller answers 200 only after this returns, that is after the commit.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from keyforge_hive.jobs.leases import LeaseId
from keyforge_hive.jobs.store import OPEN_STATUSES, unknown_job
from keyforge_shared.errors import Conflict

Connection = asyncpg.Connection | PoolConnectionProxy

# The job row locked, and whether this layout is already stored, in one round trip.
LOCK_JOB = """
SELECT j.status, j.best_score, r.score AS stored_score, r.is_record AS stored_record
  FROM jobs j LEFT JOIN results r ON r.job_id = j.job_id AND r.layout = $2
 WHERE j.job_id = $1
   FOR UPDATE OF j
"""

# The result, the node's contribution counters and the job's counters (and best, for
# a record) in one statement.
STORE = """
WITH stored AS (
    INSERT INTO results (job_id, node_id, layout, score, lease_id, is_record)
    VALUES ($1, $2, $3, $4, $5, $6)
), counted AS (
    INSERT INTO node_contributions AS c (node_id, results, records)
    VALUES ($2, 1, $6::boolean::int)
    ON CONFLICT (node_id) DO UPDATE
       SET results = c.results + 1, records = c.records + EXCLUDED.records, last_seen = now()
)
UPDATE jobs
   SET result_count = result_count + 1, updated_at = now(),
       best_score = CASE WHEN $6 THEN $4 ELSE best_score END,
       best_layout = CASE WHEN $6 THEN $3 ELSE best_layout END,
       best_metrics = CASE WHEN $6 THEN $7::jsonb ELSE best_metrics END
 WHERE job_id = $1
"""


@dataclass(frozen=True, slots=True)
class Stored:
    score: float
    record: bool
    new: bool  # false: this layout was already stored (a resend)
    previous_best: float | None = None


MetricsOf = Callable[[], Awaitable[dict[str, float]]]


@dataclass(frozen=True, slots=True)
class Verified:
    """A result the hive has rescored: the layout in canonical keycodes, its true score."""

    job_id: str
    node_id: str
    layout: str
    score: float
    lease: LeaseId | None
    # Only a new best needs its metrics (for GET /jobs/{id}): computed then, not per result.
    metrics_of: MetricsOf


async def _check_lease(conn: Connection, job_id: str, lease: LeaseId) -> None:
    row = await conn.fetchrow(
        "SELECT attempt, lease_token FROM job_leases WHERE job_id = $1 AND slot = $2 FOR SHARE",
        job_id,
        lease.slot,
    )
    if row is None or lease.attempt > row["attempt"]:
        raise Conflict("this lease was never issued for this job", code="unknown_lease")
    if lease.attempt < row["attempt"]:
        raise Conflict(
            f"attempt {lease.attempt} of slot {lease.slot} was superseded by attempt "
            f"{row['attempt']}",
            code="stale_lease",
            extra={"current_attempt": row["attempt"]},
        )
    if not hmac.compare_digest(lease.token.encode(), row["lease_token"].encode()):
        raise Conflict("this lease was never issued for this job", code="unknown_lease")


async def store_result(pool: asyncpg.Pool, result: Verified) -> Stored:
    async with pool.acquire() as conn, conn.transaction():
        job = await conn.fetchrow(LOCK_JOB, result.job_id, result.layout)
        if job is None:
            raise unknown_job(result.job_id)
        if job["stored_score"] is not None:
            return Stored(job["stored_score"], job["stored_record"], new=False)
        if job["status"] not in OPEN_STATUSES:
            raise Conflict(f"the job is {job['status']}", code="job_closed")
        if result.lease is not None:
            await _check_lease(conn, result.job_id, result.lease)
        best: float | None = job["best_score"]
        record = best is None or result.score < best
        metrics = await result.metrics_of() if record else None
        lease_text = str(result.lease) if result.lease else None
        await conn.execute(
            STORE,
            result.job_id,
            result.node_id,
            result.layout,
            result.score,
            lease_text,
            record,
            metrics,
        )
    return Stored(result.score, record, new=True, previous_best=best)


def record_event(result: Verified, stored: Stored) -> dict[str, Any]:
    return {
        "job_id": result.job_id,
        "score": stored.score,
        "previous_best": stored.previous_best,
        "layout": result.layout,
        "node_id": result.node_id,
    }
