"""Results and analysis: ``POST /results`` (verified, fenced, durable) and ``POST /score``.

Both rescore on the hive with the job's cached scorer, in a worker thread:
a full score plus metrics costs a few milliseconds of CPU, which would
otherwise stall every other request of this hive's event loop.
"""

from __future__ import annotations

import asyncio
import math
from typing import Annotated, Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from keyforge_hive.auth import NodeAuth
from keyforge_hive.jobs.leases import LeaseId
from keyforge_hive.jobs.results import Verified, record_event, store_result
from keyforge_hive.jobs.routes import checked_job_id
from keyforge_hive.jobs.scoring_cache import AssetsUnavailable
from keyforge_hive.jobs.store import job_spec_text
from keyforge_hive.nodes.registry import NodeId
from keyforge_hive.state import Hive, HiveDep
from keyforge_shared.errors import Conflict, DependencyDown, KeyforgeError
from keyforge_shared.formats import FormatError
from keyforge_shared.job_scorer import JobScorer
from keyforge_shared.scoring import ScoringModel

router = APIRouter(tags=["results"])

JobId = Annotated[str, Field(min_length=1, max_length=200)]
LayoutText = Annotated[str, Field(min_length=1, max_length=5000)]


class ResultIn(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    job_id: JobId
    layout: LayoutText
    score: Annotated[float, Field(allow_inf_nan=False, ge=-1e15, le=1e15)]
    node_id: NodeId
    lease_id: Annotated[str, Field(max_length=64)] | None = None


class ScoreIn(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    job_id: JobId
    layout: LayoutText


def _invalid(detail: str, code: str) -> KeyforgeError:
    return KeyforgeError(detail, code=code, status_code=422)


async def _scorer(hive: Hive, job_id: str) -> JobScorer:
    job_id = checked_job_id(job_id)
    try:
        return await hive.jobs.scorers.scorer_for(job_id, lambda: job_spec_text(hive.pool, job_id))
    except AssetsUnavailable as exc:
        raise DependencyDown(
            f"the job's assets are not published: {', '.join(exc.paths)}",
            code="assets_unavailable",
        ) from None


def layout_metrics(model: ScoringModel, layout: list[str]) -> dict[str, float]:
    return {
        name: value if math.isfinite(value) else 0.0
        for name, value in model.metrics(layout).items()
    }


def _score_and_metrics(model: ScoringModel, layout: list[str]) -> tuple[float, dict[str, float]]:
    return model.score(layout), layout_metrics(model, layout)


@router.post("/results")
async def submit_result(body: ResultIn, hive: HiveDep, _: NodeAuth) -> dict[str, Any]:
    scorer = await _scorer(hive, body.job_id)
    try:
        layout = scorer.result_layout(body.layout)
    except FormatError as exc:
        raise _invalid(str(exc), "invalid_layout") from None
    try:
        lease = LeaseId.parse(body.lease_id) if body.lease_id is not None else None
    except FormatError as exc:
        raise _invalid(str(exc), "invalid_lease") from None
    score = await asyncio.to_thread(scorer.model.score, layout)
    if abs(body.score - score) > hive.runtime.current.score_tolerance:
        raise Conflict(
            f"claimed {body.score!r}, the hive computes {score!r}",
            code="score_mismatch",
            extra={"expected_score": score},
        )
    result = Verified(
        body.job_id,
        body.node_id,
        " ".join(layout),
        score,
        lease,
        lambda: asyncio.to_thread(layout_metrics, scorer.model, layout),
    )
    stored = await store_result(hive.pool, result)
    if stored.new and stored.record:
        await hive.jobs.announce("new_record", record_event(result, stored))
    return {"status": "accepted", "score": stored.score, "record": stored.record}


@router.post("/score")
async def score_layout(body: ScoreIn, hive: HiveDep, _: NodeAuth) -> dict[str, Any]:
    """Any layout with one known keycode per key of the job's geometry; pins are ignored."""
    scorer = await _scorer(hive, body.job_id)
    try:
        layout = scorer.analysable_layout(body.layout)
    except FormatError as exc:
        raise _invalid(str(exc), "invalid_layout") from None
    score, metrics = await asyncio.to_thread(_score_and_metrics, scorer.model, layout)
    return {"score": score, "metrics": metrics}
