"""Community layout submissions: stored as received, listed newest first.

The original hive crashed on these; here every field is bounded by the
schema and by the table's own checks, and text Postgres cannot hold (NUL,
lone surrogates) is refused as a 422 before it reaches the database.
"""

from __future__ import annotations

import asyncpg

from keyforge_shared.protocol.jobs import Submission, SubmissionIn

LATEST = 50


async def store_submission(pool: asyncpg.Pool, body: SubmissionIn) -> int:
    submission_id: int = await pool.fetchval(
        "INSERT INTO submissions (name, layout, author) VALUES ($1, $2, $3)"
        " RETURNING submission_id",
        body.name,
        body.layout,
        body.author,
    )
    return submission_id


async def latest_submissions(pool: asyncpg.Pool) -> list[Submission]:
    rows = await pool.fetch(
        "SELECT submission_id, name, layout, author, status, created_at FROM submissions"
        " ORDER BY submission_id DESC LIMIT $1",
        LATEST,
    )
    return [
        Submission(
            id=row["submission_id"],
            name=row["name"],
            layout=row["layout"],
            author=row["author"],
            status=row["status"],
            created_at=row["created_at"],
        )
        for row in rows
    ]
