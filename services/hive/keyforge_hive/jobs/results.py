"""``POST /results`` in one straight path: ``accept_result`` validates, scores, commits, announces.

The route hands the node's claim over and answers what this returns; every
refusal is a domain error raised here (422 malformed layout or lease, 409
score mismatch or stale lease, 404 unknown job, 503 assets not published).
Rescoring runs in a worker thread: a full score costs a few milliseconds of
CPU, which would otherwise stall every other request of this hive's loop.

``store_result`` commits a verified result, fenced and counted in one transaction.

The job row is locked first (``FOR UPDATE``), so the results of one job are
stored one at a time: the best score, the result count and the record flag
can never disagree. A layout the job already holds answers what it answered
the first time (idempotent resend), before any lease check: a node that
resends after a lost answer is not punished for the slot having moved on.
The route answers 200 only after the commit; the ``new_record`` event is
published after it too, and a bus that is down loses the event, not the result.
"""

from __future__ import annotations

import asyncio
import hmac
import math
from dataclasses import dataclass
from typing import Any

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from keyforge_hive.jobs.leases import LeaseId
from keyforge_hive.jobs.scoring_cache import AssetsUnavailable, assets_recovering
from keyforge_hive.jobs.store import OPEN_STATUSES, checked_job_id, job_spec_text, unknown_job
from keyforge_hive.state import Hive
from keyforge_shared.errors import Conflict, DependencyDown, Forbidden, KeyforgeError, NotFound
from keyforge_shared.formats import FormatError
from keyforge_shared.job_scorer import JobScorer
from keyforge_shared.scoring import ScoringModel

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


@dataclass(frozen=True, slots=True)
class Verified:
    """A result the hive has rescored: the layout in canonical keycodes, its true score."""

    job_id: str
    node_id: str
    keycodes: list[str]
    score: float
    lease: LeaseId | None
    model: ScoringModel  # the job's, for the metrics of a new best

    @property
    def layout(self) -> str:
        return " ".join(self.keycodes)


def invalid(detail: str, code: str) -> KeyforgeError:
    return KeyforgeError(detail, code=code, status_code=422)


async def job_scorer(hive: Hive, job_id: str) -> JobScorer:
    """The job's cached scorer; 404 for no such job, 503 while its assets are unpublished."""
    job_id = checked_job_id(job_id)
    try:
        return await hive.jobs.scorers.scorer_for(job_id, lambda: job_spec_text(hive.pool, job_id))
    except AssetsUnavailable as exc:
        recovering = assets_recovering(exc)
        if recovering is not None:
            raise recovering from None
        raise DependencyDown(
            f"the job's assets are not published: {', '.join(exc.paths)}",
            code="assets_unavailable",
        ) from None


def layout_metrics(model: ScoringModel, keycodes: list[str]) -> dict[str, float]:
    return {
        name: value if math.isfinite(value) else 0.0
        for name, value in model.metrics(keycodes).items()
    }


async def check_registered(hive: Hive, node_id: str) -> None:
    """Results come from registered nodes only (the admin may post for any of them)."""
    if await hive.pool.fetchval("SELECT 1 FROM nodes WHERE node_id = $1", node_id) is None:
        raise NotFound(f"node {node_id!r} is not registered", code="unknown_node")


async def accept_result(
    hive: Hive,
    *,
    job_id: str,
    node_id: str,
    layout: str,
    claimed_score: float,
    lease_id: str | None,
) -> Stored:
    """Validate, rescore, commit and announce one result a node claims."""
    scorer = await job_scorer(hive, job_id)
    try:
        keycodes = scorer.result_layout(layout)
    except FormatError as exc:
        raise invalid(str(exc), "invalid_layout") from None
    try:
        lease = LeaseId.parse(lease_id) if lease_id is not None else None
    except FormatError as exc:
        raise invalid(str(exc), "invalid_lease") from None
    score = await asyncio.to_thread(scorer.model.score, keycodes)
    if abs(claimed_score - score) > hive.runtime.current.score_tolerance:
        raise Conflict(
            f"claimed {claimed_score!r}, the hive computes {score!r}",
            code="score_mismatch",
            extra={"expected_score": score},
        )
    result = Verified(job_id, node_id, keycodes, score, lease, scorer.model)
    stored = await store_result(hive.pool, result)
    if stored.new and stored.record:
        await hive.jobs.announce("new_record", record_event(result, stored))
    return stored


async def _check_lease(conn: Connection, job_id: str, node_id: str, lease: LeaseId) -> None:
    row = await conn.fetchrow(
        "SELECT attempt, lease_token, node_id FROM job_leases"
        " WHERE job_id = $1 AND slot = $2 FOR SHARE",
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
    if row["node_id"] != node_id:
        raise Forbidden(f"this lease is not node {node_id!r}'s", code="wrong_node")


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
            await _check_lease(conn, result.job_id, result.node_id, result.lease)
        best: float | None = job["best_score"]
        record = best is None or result.score < best
        # Only a new best needs its metrics (for GET /jobs/{id}): computed then, not per result.
        metrics = None
        if record:
            metrics = await asyncio.to_thread(layout_metrics, result.model, result.keycodes)
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


# A dict: the event bus carries plain JSON payloads, read by SSE clients as they are.
def record_event(result: Verified, stored: Stored) -> dict[str, Any]:
    return {
        "job_id": result.job_id,
        "score": stored.score,
        "previous_best": stored.previous_best,
        "layout": result.layout,
        "node_id": result.node_id,
    }
