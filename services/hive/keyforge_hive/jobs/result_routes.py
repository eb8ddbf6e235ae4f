"""Results and analysis: ``POST /results`` (verified, fenced, durable) and ``POST /score``.

Both rescore on the hive with the job's cached scorer, in a worker thread:
a full score plus metrics costs a few milliseconds of CPU, which would
otherwise stall every other request of this hive's event loop. The whole
path of a result is :func:`keyforge_hive.jobs.results.accept_result`.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from keyforge_hive.auth import NodeAuth
from keyforge_hive.jobs.results import accept_result, invalid, job_scorer, layout_metrics
from keyforge_hive.nodes.registry import NodeId
from keyforge_hive.state import HiveDep
from keyforge_shared.formats import FormatError
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


def _score_and_metrics(model: ScoringModel, layout: list[str]) -> tuple[float, dict[str, float]]:
    return model.score(layout), layout_metrics(model, layout)


@router.post("/results")
async def submit_result(body: ResultIn, hive: HiveDep, _: NodeAuth) -> dict[str, Any]:
    stored = await accept_result(
        hive,
        job_id=body.job_id,
        node_id=body.node_id,
        layout=body.layout,
        claimed_score=body.score,
        lease_id=body.lease_id,
    )
    return {"status": "accepted", "score": stored.score, "record": stored.record}


@router.post("/score")
async def score_layout(body: ScoreIn, hive: HiveDep, _: NodeAuth) -> dict[str, Any]:
    """Any layout with one known keycode per key of the job's geometry; pins are ignored."""
    scorer = await job_scorer(hive, body.job_id)
    try:
        layout = scorer.analysable_layout(body.layout)
    except FormatError as exc:
        raise invalid(str(exc), "invalid_layout") from None
    score, metrics = await asyncio.to_thread(_score_and_metrics, scorer.model, layout)
    return {"score": score, "metrics": metrics}
