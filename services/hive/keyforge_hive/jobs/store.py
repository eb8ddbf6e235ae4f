"""Jobs in Postgres: registration, status changes and the public views.

Status: ``active`` (leasable), ``paused`` (kept, not leased; results still
accepted from leases already out), ``cancelled`` and ``done`` (closed: no
leases, no results). An operator pauses, resumes, cancels, and completes a
search that has found what it will (``done`` keeps everything, where
``cancelled`` also tombstones the job's KV namespaces); asking for the status
a job already has changes nothing and announces nothing.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Final

import asyncpg

from keyforge_hive.kv.store import tombstone_job_namespaces
from keyforge_shared.errors import Conflict, NotFound
from keyforge_shared.protocol.jobs import JobSummary, JobView

OPEN_STATUSES: Final = ("active", "paused")
JOB_ID = re.compile(r"[0-9a-f]{64}\Z")

INSERT_JOB = """
INSERT INTO jobs (job_id, spec, keyboard, keyboard_name, slots, model_id, model)
VALUES ($1, $2::json, $3, $4, $5, $6, $7::jsonb)
ON CONFLICT (job_id) DO NOTHING
RETURNING job_id
"""

LIST_JOBS = """
SELECT job_id, status, created_at, best_score, result_count, keyboard_name
  FROM jobs
 WHERE $1::text IS NULL OR status = $1
 ORDER BY created_at DESC, job_id
 LIMIT $2
"""

GET_JOB = """
SELECT job_id, status, created_at, updated_at, keyboard, keyboard_name, slots,
       result_count, best_score, best_layout, best_metrics, model_id, spec
  FROM jobs WHERE job_id = $1
"""


@dataclass(frozen=True, slots=True)
class Transition:
    sources: frozenset[str]
    target: str


TRANSITIONS: Final = {
    "pause": Transition(frozenset({"active"}), "paused"),
    "resume": Transition(frozenset({"paused"}), "active"),
    "cancel": Transition(frozenset({"active", "paused"}), "cancelled"),
    "complete": Transition(frozenset({"active", "paused"}), "done"),
}


async def insert_job(
    pool: asyncpg.Pool,
    *,
    job_id: str,
    spec_text: str,
    keyboard: str,
    keyboard_name: str,
    slots: int,
    model: dict[str, Any] | None = None,
) -> bool:
    """True if this call created the job (false: it already existed)."""
    model_id = model["model_id"] if model else None
    created = await pool.fetchval(
        INSERT_JOB, job_id, spec_text, keyboard, keyboard_name, slots, model_id, model
    )
    return created is not None


async def job_exists(pool: asyncpg.Pool, job_id: str) -> bool:
    return bool(await pool.fetchval("SELECT true FROM jobs WHERE job_id = $1", job_id))


async def job_spec_text(pool: asyncpg.Pool, job_id: str) -> str:
    text: str | None = await pool.fetchval("SELECT spec FROM jobs WHERE job_id = $1", job_id)
    if text is None:
        raise unknown_job(job_id)
    return text


def unknown_job(job_id: str) -> NotFound:
    return NotFound(f"job {job_id} does not exist", code="unknown_job")


def checked_job_id(job_id: str) -> str:
    """A malformed id names no job: 404, and it never reaches a query."""
    if not JOB_ID.match(job_id):
        raise unknown_job(job_id[:80])
    return job_id


async def change_status(pool: asyncpg.Pool, job_id: str, action: str) -> tuple[str, str]:
    """Apply an operator action; returns (status before, status after)."""
    transition = TRANSITIONS[action]
    async with pool.acquire() as conn, conn.transaction():
        current: str | None = await conn.fetchval(
            "SELECT status FROM jobs WHERE job_id = $1 FOR UPDATE", job_id
        )
        if current is None:
            raise unknown_job(job_id)
        if current == transition.target:
            return current, current
        if current not in transition.sources:
            raise Conflict(f"a {current} job cannot {action}", code="invalid_transition")
        await conn.execute(
            "UPDATE jobs SET status = $2, updated_at = now() WHERE job_id = $1",
            job_id,
            transition.target,
        )
        if transition.target == "cancelled":
            # Its KV namespaces go with it, in the same transaction (only admins cancel).
            await tombstone_job_namespaces(conn, job_id, actor="admin")
    return current, transition.target


async def list_jobs(pool: asyncpg.Pool, status: str | None, limit: int) -> list[JobSummary]:
    return [
        JobSummary(
            job_id=row["job_id"],
            status=row["status"],
            created_at=row["created_at"],
            best_score=row["best_score"],
            results=row["result_count"],
            keyboard_name=row["keyboard_name"],
        )
        for row in await pool.fetch(LIST_JOBS, status, limit)
    ]


async def job_view(pool: asyncpg.Pool, job_id: str) -> JobView:
    row = await pool.fetchrow(GET_JOB, job_id)
    if row is None:
        raise unknown_job(job_id)
    return JobView(
        job_id=row["job_id"],
        status=row["status"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        keyboard=row["keyboard"],
        keyboard_name=row["keyboard_name"],
        slots=row["slots"],
        results=row["result_count"],
        best_score=row["best_score"],
        best_layout=row["best_layout"],
        metrics=row["best_metrics"],
        model_id=row["model_id"],
        **_spec_summary(row["spec"]),
    )


def _spec_summary(spec_text: str) -> dict[str, Any]:
    spec = json.loads(spec_text)
    return {
        "definition": spec.get("definition"),
        "pinned_keys": spec.get("pinned_keys", ""),
        "params": spec.get("params"),
        "corpus_name": spec.get("corpus_name"),
        "cost_matrix": spec.get("cost_matrix", "cost_matrix.csv"),
    }


POPULATION_OWN = """
SELECT layout FROM results WHERE job_id = $1 ORDER BY score, result_id LIMIT $2
"""

POPULATION_NEIGHBOURS = """
SELECT r.layout
  FROM results r JOIN jobs j ON j.job_id = r.job_id
 WHERE j.keyboard = (SELECT keyboard FROM jobs WHERE job_id = $1) AND r.job_id <> $1
 ORDER BY r.score, r.result_id
 LIMIT $2
"""


async def best_layouts(pool: asyncpg.Pool, job_id: str, limit: int) -> list[str]:
    return [r["layout"] for r in await pool.fetch(POPULATION_OWN, job_id, limit)]


async def neighbour_layouts(pool: asyncpg.Pool, job_id: str, limit: int) -> list[str]:
    """The best layouts of other jobs on the same geometry (any weights, any alphabet)."""
    return [r["layout"] for r in await pool.fetch(POPULATION_NEIGHBOURS, job_id, limit)]
