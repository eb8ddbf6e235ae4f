"""Jobs: registration, the public views, the lease queue, population and operator actions."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request

from keyforge_hive.auth import AdminAuth, MemberOrNodeAuth, NodeAuth, Role
from keyforge_hive.jobs.leases import DEFAULT_SLOTS
from keyforge_hive.jobs.scoring_cache import (
    AssetsUnavailable,
    assets_recovering,
    resolve_assets,
)
from keyforge_hive.jobs.spec import geometry_fingerprint, job_id_of, parse_spec_text
from keyforge_hive.jobs.store import (
    best_layouts,
    change_status,
    checked_job_id,
    insert_job,
    job_exists,
    job_spec_text,
    job_view,
    list_jobs,
    neighbour_layouts,
    unknown_job,
)
from keyforge_hive.nodes.rate_limits import Action
from keyforge_hive.records.scoring_model import scoring_model
from keyforge_hive.state import Hive, HiveDep
from keyforge_shared.errors import KeyforgeError, NotFound
from keyforge_shared.formats import FormatError
from keyforge_shared.job_scorer import job_inputs
from keyforge_shared.protocol.errors import error_responses
from keyforge_shared.protocol.fields import NodeId
from keyforge_shared.protocol.jobs import (
    JobRegistered,
    JobSpec,
    JobStatusChange,
    JobSummary,
    JobView,
    LeaseAnswer,
    Population,
)

router = APIRouter(tags=["jobs"], responses=error_responses(503))
NODE_ERRORS = error_responses(401, 403, 404, 422)
ADMIN_ERRORS = error_responses(401, 403, 404, 409, 422)

JobIdPath = Annotated[str, Path(max_length=200)]
Status = Annotated[str, Query(pattern="^(active|paused|done|cancelled)$")]
OWN_POPULATION = 45
NEIGHBOUR_POPULATION = 5
NEIGHBOURS_SCANNED = 200


def invalid_spec(detail: str, code: str = "invalid_spec") -> KeyforgeError:
    return KeyforgeError(detail, code=code, status_code=422)


@router.post("/jobs", responses=error_responses(401, 422, 429))
async def register_job(
    spec: JobSpec, request: Request, hive: HiveDep, caller: MemberOrNodeAuth
) -> JobRegistered:
    if caller.role is Role.NODE:
        # Without a token the volunteer is known only by its address (behind the proxy, the
        # forwarded one the hive trusts).
        who = caller.node_id or f"address {request.client.host if request.client else '?'}"
        await hive.limits.spend(Action.JOBS, who)
    try:
        text, value = parse_spec_text(await request.body())
        job_id = job_id_of(value)
        if await job_exists(hive.pool, job_id):
            return JobRegistered(job_id=job_id, is_new=False)
        inputs = job_inputs(value)
        assets = await resolve_assets(hive.valkey, hive.keys, inputs.asset_paths)
        # Building the scorer proves the job can be verified, and warms the cache.
        scorer = await hive.jobs.scorers.prepare(job_id, inputs, assets)
        model = scoring_model(inputs, scorer, assets, spec.corpus_name)
    except FormatError as exc:
        raise invalid_spec(str(exc)) from None
    except AssetsUnavailable as exc:
        recovering = assets_recovering(exc)
        if recovering is not None:
            raise recovering from None
        raise invalid_spec(
            f"not in the published asset manifest: {', '.join(exc.paths)}", "unknown_asset"
        ) from None
    created = await insert_job(
        hive.pool,
        job_id=job_id,
        spec_text=text,
        keyboard=geometry_fingerprint(value),
        keyboard_name=spec.definition.meta.name,
        slots=DEFAULT_SLOTS,
        model=model,
    )
    if created:
        await hive.jobs.queue.enqueue(job_id)
        await hive.jobs.announce(
            "job_status",
            {"job_id": job_id, "status": "active", "previous": None, "created": True},
        )
    return JobRegistered(job_id=job_id, is_new=created)


@router.get("/jobs", responses=error_responses(422))
async def jobs(
    hive: HiveDep,
    status: Status | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[JobSummary]:
    return await list_jobs(hive.pool, status, limit)


# Before /jobs/{job_id}: routes match in order.
@router.get("/jobs/queue", responses=NODE_ERRORS, response_model_exclude_unset=True)
async def lease_work(
    node_id: Annotated[NodeId, Query()],
    request: Request,
    hive: HiveDep,
    caller: NodeAuth,
    wait: Annotated[float, Query(ge=0, le=20, allow_inf_nan=False)] = 20.0,
) -> LeaseAnswer:
    """Long-poll up to ``wait`` seconds (20 at most) for a lease on one job slot."""
    caller.check(node_id)
    try:
        lease = await hive.jobs.queue.wait_for_lease(node_id, wait, request.is_disconnected)
    except LookupError:
        raise NotFound(f"node {node_id!r} is not registered", code="unknown_node") from None
    return lease.answer() if lease is not None else LeaseAnswer.nothing()


@router.get("/jobs/{job_id}", responses=error_responses(404, 422))
async def job(job_id: JobIdPath, hive: HiveDep) -> JobView:
    return await job_view(hive.pool, checked_job_id(job_id))


@router.get("/jobs/{job_id}/population", responses=NODE_ERRORS)
async def population(job_id: JobIdPath, hive: HiveDep, _: NodeAuth) -> Population:
    job_id = checked_job_id(job_id)
    if not await job_exists(hive.pool, job_id):
        raise unknown_job(job_id)
    own = await best_layouts(hive.pool, job_id, OWN_POPULATION)
    return Population(layouts=own + await _neighbour_seeds(hive, job_id, set(own)))


async def _neighbour_seeds(hive: Hive, job_id: str, have: set[str]) -> list[str]:
    """Other jobs' best layouts on this geometry that are valid for this job too."""
    candidates = await neighbour_layouts(hive.pool, job_id, NEIGHBOURS_SCANNED)
    if not candidates:
        return []
    try:
        scorer = await hive.jobs.scorers.scorer_for(
            job_id, lambda: job_spec_text(hive.pool, job_id)
        )
    except AssetsUnavailable:
        return []
    seeds: list[str] = []
    for layout in candidates:
        if layout not in have and scorer.accepts(layout):
            have.add(layout)
            seeds.append(layout)
            if len(seeds) == NEIGHBOUR_POPULATION:
                break
    return seeds


async def _operator_action(hive: Hive, job_id: str, action: str) -> JobStatusChange:
    previous, status = await change_status(hive.pool, checked_job_id(job_id), action)
    changed = previous != status
    if changed:
        if status == "active":
            await hive.jobs.queue.enqueue(job_id)
        else:
            await hive.jobs.queue.dequeue(job_id)
        await hive.jobs.announce(
            "job_status", {"job_id": job_id, "status": status, "previous": previous}
        )
    change = {"job_id": job_id, "status": status, "previous": previous, "changed": changed}
    return JobStatusChange.model_validate(change)


@router.post("/jobs/{job_id}/pause", responses=ADMIN_ERRORS)
async def pause(job_id: JobIdPath, hive: HiveDep, _: AdminAuth) -> JobStatusChange:
    return await _operator_action(hive, job_id, "pause")


@router.post("/jobs/{job_id}/resume", responses=ADMIN_ERRORS)
async def resume(job_id: JobIdPath, hive: HiveDep, _: AdminAuth) -> JobStatusChange:
    return await _operator_action(hive, job_id, "resume")


@router.post("/jobs/{job_id}/cancel", responses=ADMIN_ERRORS)
async def cancel(job_id: JobIdPath, hive: HiveDep, _: AdminAuth) -> JobStatusChange:
    return await _operator_action(hive, job_id, "cancel")


@router.post("/jobs/{job_id}/complete", responses=ADMIN_ERRORS)
async def complete(job_id: JobIdPath, hive: HiveDep, _: AdminAuth) -> JobStatusChange:
    """The search is over: ``done``, no more leases or results, everything kept."""
    return await _operator_action(hive, job_id, "complete")
