"""Community layout submissions."""

from __future__ import annotations

from fastapi import APIRouter

from keyforge_hive.auth import MemberAuth
from keyforge_hive.jobs.submissions import latest_submissions, store_submission
from keyforge_hive.state import HiveDep
from keyforge_shared.protocol.errors import error_responses
from keyforge_shared.protocol.jobs import Submission, SubmissionIn, SubmissionReceived

router = APIRouter(tags=["submissions"], responses=error_responses(401, 503))


@router.post("/submissions", status_code=201, responses=error_responses(422))
async def submit(body: SubmissionIn, hive: HiveDep, _: MemberAuth) -> SubmissionReceived:
    return SubmissionReceived(id=await store_submission(hive.pool, body))


@router.get("/submissions")
async def submissions(hive: HiveDep, _: MemberAuth) -> list[Submission]:
    """The newest 50."""
    return await latest_submissions(hive.pool)
