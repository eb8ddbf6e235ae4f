"""Community layout submissions."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from keyforge_hive.auth import NodeAuth
from keyforge_hive.jobs.submissions import SubmissionIn, latest_submissions, store_submission
from keyforge_hive.state import HiveDep

router = APIRouter(tags=["submissions"])


@router.post("/submissions", status_code=201)
async def submit(body: SubmissionIn, hive: HiveDep, _: NodeAuth) -> dict[str, Any]:
    return {"id": await store_submission(hive.pool, body), "status": "received"}


@router.get("/submissions")
async def submissions(hive: HiveDep, _: NodeAuth) -> list[dict[str, Any]]:
    """The newest 50."""
    return await latest_submissions(hive.pool)
