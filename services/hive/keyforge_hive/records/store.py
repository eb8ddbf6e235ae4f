"""The record views in Postgres: a job's history, leaderboards per scoring model, contributors."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg

HISTORY = """
SELECT created_at, score, node_id FROM results
 WHERE job_id = $1 AND is_record
 ORDER BY created_at, result_id
"""

# One row per model: its best job (for the best layout) and the totals of all its jobs.
BOARDS = """
SELECT DISTINCT ON (model_id) model_id, model, best_score, best_layout,
       count(*) OVER w AS jobs, sum(result_count) OVER w AS results
  FROM jobs
 WHERE model_id IS NOT NULL
WINDOW w AS (PARTITION BY model_id)
 ORDER BY model_id, best_score NULLS LAST, created_at
"""

BOARD = """
SELECT model, min(best_score) AS best_score, count(*) AS jobs,
       sum(result_count) AS results,
       (array_agg(best_layout ORDER BY best_score NULLS LAST))[1] AS best_layout
  FROM jobs WHERE model_id = $1
 GROUP BY model
 LIMIT 1
"""

# A layout found by several jobs of one model counts once, at its earliest best.
BOARD_ENTRIES = """
SELECT layout, score, job_id, node_id, created_at FROM (
    SELECT DISTINCT ON (r.layout) r.layout, r.score, r.job_id, r.node_id, r.created_at
      FROM results r JOIN jobs j ON j.job_id = r.job_id
     WHERE j.model_id = $1
     ORDER BY r.layout, r.score, r.created_at
) AS distinct_layouts
 ORDER BY score, created_at
 LIMIT $2
"""

CONTRIBUTORS = """
SELECT coalesce(n.node_id, c.node_id) AS node_id, n.labels,
       coalesce(c.results, 0) AS results, coalesce(c.records, 0) AS records,
       coalesce(c.work_units, 0) AS work_units,
       LEAST(n.registered_at, c.first_seen) AS first_seen,
       GREATEST(n.last_seen, c.last_seen) AS last_seen
  FROM nodes n FULL JOIN node_contributions c ON c.node_id = n.node_id
 ORDER BY work_units DESC, results DESC, node_id
 LIMIT $1
"""


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


async def job_history(pool: asyncpg.Pool, job_id: str) -> list[dict[str, Any]]:
    return [
        {"at": _iso(r["created_at"]), "score": r["score"], "node_id": r["node_id"]}
        for r in await pool.fetch(HISTORY, job_id)
    ]


def _summary(row: asyncpg.Record) -> dict[str, Any]:
    return {
        **row["model"],
        "best_score": row["best_score"],
        "best_layout": row["best_layout"],
        "jobs": row["jobs"],
        "results": int(row["results"] or 0),
    }


async def leaderboards(pool: asyncpg.Pool) -> list[dict[str, Any]]:
    boards = [_summary(r) for r in await pool.fetch(BOARDS)]
    # Busiest boards first; a board with no score yet sorts last.
    return sorted(boards, key=lambda b: (-b["results"], b["model_id"]))


async def leaderboard(pool: asyncpg.Pool, model_id: str, limit: int) -> dict[str, Any] | None:
    """The board's summary and its best distinct layouts (no metrics yet); None if unknown."""
    async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read"):
        row = await conn.fetchrow(BOARD, model_id)
        if row is None:
            return None
        entries = await conn.fetch(BOARD_ENTRIES, model_id, limit)
    return {
        **_summary(row),
        "entries": [
            {
                "layout": e["layout"],
                "score": e["score"],
                "metrics": None,
                "job_id": e["job_id"],
                "node_id": e["node_id"],
                "found_at": _iso(e["created_at"]),
            }
            for e in entries
        ],
    }


async def contributors(pool: asyncpg.Pool, limit: int) -> list[dict[str, Any]]:
    return [
        {
            "node_id": r["node_id"],
            "labels": r["labels"] or {},
            "results": r["results"],
            "records": r["records"],
            "work_units": r["work_units"],
            "first_seen": _iso(r["first_seen"]),
            "last_seen": _iso(r["last_seen"]),
        }
        for r in await pool.fetch(CONTRIBUTORS, limit)
    ]
