"""Results and analysis: ``POST /results`` (verified, fenced, durable) and ``POST /score``.

Both rescore on the hive with the job's cached scorer, in a worker thread:
a full score plus metrics costs a few milliseconds of CPU, which would
otherwise stall every other request of this hive's event loop. The whole
path of a result is :func:`keyforge_hive.jobs.results.accept_result`.
"""

from __future__ import annotations

import asyncio

from fastapi import APIRouter

from keyforge_hive.auth import NodeAuth
from keyforge_hive.jobs.results import (
    accept_result,
    check_registered,
    invalid,
    job_scorer,
    layout_metrics,
)
from keyforge_hive.nodes.rate_limits import Action
from keyforge_hive.state import HiveDep
from keyforge_shared.formats import FormatError
from keyforge_shared.protocol.errors import error_responses
from keyforge_shared.protocol.jobs import LayoutScore, ResultAccepted, ResultIn, ScoreIn
from keyforge_shared.scoring import ScoringModel

router = APIRouter(tags=["results"], responses=error_responses(401, 403, 404, 422, 429, 503))


def _score_and_metrics(model: ScoringModel, layout: list[str]) -> tuple[float, dict[str, float]]:
    return model.score(layout), layout_metrics(model, layout)


# 409: score_mismatch (with expected_score), stale_lease, a closed job.
@router.post("/results", responses=error_responses(409))
async def submit_result(body: ResultIn, hive: HiveDep, caller: NodeAuth) -> ResultAccepted:
    caller.check(body.node_id)
    if caller.node_id is None:
        await check_registered(hive, body.node_id)  # a node's token proves it already
    else:
        await hive.limits.spend(Action.RESULTS, caller.node_id)
    stored = await accept_result(
        hive,
        job_id=body.job_id,
        node_id=body.node_id,
        layout=body.layout,
        claimed_score=body.score,
        lease_id=body.lease_id,
    )
    return ResultAccepted(score=stored.score, record=stored.record)


@router.post("/score")
async def score_layout(body: ScoreIn, hive: HiveDep, caller: NodeAuth) -> LayoutScore:
    """Any layout with one known keycode per key of the job's geometry; pins are ignored."""
    if caller.node_id is not None:
        await hive.limits.spend(Action.SCORE, caller.node_id)
    scorer = await job_scorer(hive, body.job_id)
    try:
        layout = scorer.analysable_layout(body.layout)
    except FormatError as exc:
        raise invalid(str(exc), "invalid_layout") from None
    score, metrics = await asyncio.to_thread(_score_and_metrics, scorer.model, layout)
    return LayoutScore(score=score, metrics=metrics)
