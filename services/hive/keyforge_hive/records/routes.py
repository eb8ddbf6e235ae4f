"""Public record views: a job's history and exports, leaderboards, contributors."""

from __future__ import annotations

import asyncio
import re
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query
from fastapi.responses import Response

from keyforge_hive.jobs.results import job_scorer, layout_metrics
from keyforge_hive.jobs.routes import JobIdPath
from keyforge_hive.jobs.store import (
    checked_job_id,
    job_exists,
    job_spec_text,
    job_view,
    unknown_job,
)
from keyforge_hive.records import export
from keyforge_hive.records.store import contributors, job_history, leaderboard, leaderboards
from keyforge_hive.state import HiveDep
from keyforge_shared.errors import DependencyDown, KeyforgeError, NotFound
from keyforge_shared.formats import FormatError
from keyforge_shared.protocol.errors import error_responses
from keyforge_shared.protocol.records import (
    Contributor,
    HistoryPoint,
    Leaderboard,
    LeaderboardSummary,
)

router = APIRouter(tags=["records"], responses=error_responses(404, 422, 503))

MODEL_ID = re.compile(r"[0-9a-f]{64}\Z")
ExportFormat = Literal["qmk-json", "qmk-c", "kle"]
EXPORT_MEDIA = {
    "application/json": {"schema": {"type": "array"}},
    "text/x-c": {"schema": {"type": "string"}},
}


@router.get("/jobs/{job_id}/history", response_model=list[HistoryPoint])
async def history(job_id: JobIdPath, hive: HiveDep) -> list[HistoryPoint]:
    job_id = checked_job_id(job_id)
    if not await job_exists(hive.pool, job_id):
        raise unknown_job(job_id)
    return [HistoryPoint(**point) for point in await job_history(hive.pool, job_id)]


@router.get(
    "/jobs/{job_id}/export",
    response_class=Response,
    responses={200: {"content": EXPORT_MEDIA, "description": "the layout in that format"}},
)
async def export_layout(
    job_id: JobIdPath,
    hive: HiveDep,
    format: Annotated[ExportFormat, Query()],
    layout: Annotated[str | None, Query(max_length=5000)] = None,
) -> Response:
    """The best layout, or ``layout`` (valid for the job), as QMK JSON, keymap.c or KLE."""
    view = await job_view(hive.pool, checked_job_id(job_id))
    scorer = await job_scorer(hive, job_id)
    text = layout if layout is not None else view.best_layout
    if text is None:
        raise NotFound("the job has no result yet: pass layout=", code="no_layout")
    try:
        keys = scorer.result_layout(text)
    except FormatError as exc:
        raise KeyforgeError(str(exc), code="invalid_layout", status_code=422) from None
    inputs = await hive.jobs.scorers.inputs_for(job_id, lambda: job_spec_text(hive.pool, job_id))
    score = view.best_score if layout is None else None
    body, media = export.render(
        format,
        definition=inputs.definition,
        layout=keys,
        keycodes=scorer.keycodes,
        job_id=job_id,
        score=score,
    )
    return Response(body, media_type=media)


@router.get("/leaderboard", response_model=list[LeaderboardSummary])
async def all_leaderboards(hive: HiveDep) -> list[LeaderboardSummary]:
    return [LeaderboardSummary(**board) for board in await leaderboards(hive.pool)]


@router.get("/leaderboard/{model_id}", response_model=Leaderboard)
async def one_leaderboard(
    model_id: Annotated[str, Path(max_length=200)],
    hive: HiveDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 20,
) -> Leaderboard:
    board = await leaderboard(hive.pool, model_id, limit) if MODEL_ID.match(model_id) else None
    if board is None:
        raise NotFound(f"no leaderboard for model {model_id[:80]}", code="unknown_model")
    entries = board["entries"]
    if entries:
        # One model, one scorer: the metrics of every entry come from any of its jobs.
        try:
            scorer = await job_scorer(hive, entries[0]["job_id"])
        except DependencyDown:
            scorer = None
        if scorer is not None:
            layouts = [entry["layout"].split() for entry in entries]
            metrics = await asyncio.to_thread(
                lambda: [layout_metrics(scorer.model, layout) for layout in layouts]
            )
            for entry, values in zip(entries, metrics, strict=True):
                entry["metrics"] = values
    return Leaderboard(**board)


@router.get("/contributors", response_model=list[Contributor])
async def contributor_list(
    hive: HiveDep, limit: Annotated[int, Query(ge=1, le=1000)] = 100
) -> list[Contributor]:
    return [Contributor(**row) for row in await contributors(hive.pool, limit)]
