"""Nodes: registration, the operator's node table and drain switch.

Heartbeats are a plain ASGI endpoint of their own (``heartbeat_endpoint``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Path, Request

from keyforge_hive.auth import AdminAuth, MemberAuth, Role, token_of_scope
from keyforge_hive.fleet.state import group_of
from keyforge_hive.nodes.rate_limits import Action
from keyforge_hive.nodes.registry import mark_registered, store_registration, tuning_for
from keyforge_hive.nodes.telemetry import decode_telemetry, encode_telemetry
from keyforge_hive.nodes.tokens import new_token, token_hash
from keyforge_hive.state import HiveDep
from keyforge_shared.errors import Conflict, NotFound
from keyforge_shared.protocol.errors import error_responses
from keyforge_shared.protocol.fields import NodeId
from keyforge_shared.protocol.nodes import (
    DrainState,
    HeartbeatIn,
    NodeRegistration,
    NodeStatus,
    NodeView,
    Registered,
)

router = APIRouter(tags=["nodes"], responses=error_responses(503))
NodePath = Annotated[NodeId, Path()]
ADMIN_ERRORS = error_responses(401, 403)


@router.post(
    "/nodes/register",
    responses=error_responses(401, 409, 422, 429),
)
async def register(
    body: NodeRegistration, request: Request, hive: HiveDep, role: MemberAuth
) -> Registered:
    """The first registration of an id claims it (answers ``node_token``); registering
    a claimed id again needs its token, or the admin secret."""
    admin = role is Role.ADMIN
    if not admin:
        await hive.limits.spend(Action.REGISTER, body.node_id)
    runtime = hive.runtime.current
    presented = token_of_scope(request.scope)
    token = new_token()
    stored = await store_registration(
        hive.pool,
        hive.valkey,
        hive.keys,
        body,
        window_s=runtime.profile_lock_window_s,
        offered_hash=token_hash(token),
        presented_hash=token_hash(presented) if presented else None,
        admin=admin,
    )
    if stored is None:
        raise Conflict(
            f"node id {body.node_id!r} is claimed: register with its token, or under a new id",
            code="node_id_taken",
        )
    hive.tokens.remember(stored.token_hash, body.node_id)
    await mark_registered(
        hive.valkey, hive.keys, body.node_id, drained=stored.drained, token_hash=stored.token_hash
    )
    # Registration counts as the first beat: the node is live from now on.
    await hive.heartbeats.update_heartbeat(body.node_id, encode_telemetry(HeartbeatIn(ips=0)), None)
    return Registered(
        node_token=token if stored.claimed else None,
        tuning=tuning_for(body),
        heartbeat_interval_s=runtime.heartbeat_interval_s,
        config=hive.fleet.view(body.node_id, group_of(body.labels)),
    )


@router.get("/nodes", responses=ADMIN_ERRORS)
async def list_nodes(hive: HiveDep, _: AdminAuth) -> list[NodeView]:
    rows = await hive.pool.fetch(
        "SELECT node_id, cpu_model, cores, ops_per_sec, labels, last_seen FROM nodes"
        " ORDER BY node_id"
    )
    ids = [r["node_id"] for r in rows]
    telemetry: list[bytes | None] = []
    statuses: list[bytes | None] = []
    seen: list[float | None] = []
    if ids:
        async with hive.valkey.pipeline(transaction=False) as pipe:
            pipe.mget([hive.keys.heartbeat(i) for i in ids])
            pipe.hmget(hive.keys.node_status(), ids)
            pipe.zmscore(hive.keys.live_nodes(), ids)
            telemetry, statuses, seen = await pipe.execute()
    nodes = []
    for row, raw, status, seen_ms in zip(rows, telemetry, statuses, seen, strict=True):
        last_seen = row["last_seen"]
        if seen_ms is not None:
            live_seen = datetime.fromtimestamp(seen_ms / 1000, UTC)
            last_seen = max(last_seen, live_seen) if last_seen else live_seen
        nodes.append(
            NodeView(
                node_id=row["node_id"],
                cpu_model=row["cpu_model"],
                cores=row["cores"],
                ops_per_sec=row["ops_per_sec"],
                status=_status(status),
                last_seen=last_seen,
                ips=decode_telemetry(raw).ips if raw else 0.0,
                labels=row["labels"],
            )
        )
    return nodes


def _status(raw: bytes | str | None) -> NodeStatus:
    text = raw.decode() if isinstance(raw, bytes) else raw
    if text == "draining":
        return "draining"
    return "ready" if text == "ready" else "down"


async def _set_drained(hive: HiveDep, node_id: str, drained: bool) -> DrainState:
    updated = await hive.pool.fetchval(
        "UPDATE nodes SET drained = $2 WHERE node_id = $1 RETURNING node_id", node_id, drained
    )
    if updated is None:
        raise NotFound(f"node {node_id!r} is not registered", code="unknown_node")
    status = await hive.node_status.set_drained(node_id, drained)
    return DrainState(node_id=node_id, status=_status(status))


@router.post("/nodes/{node_id}/drain", responses=error_responses(401, 403, 404, 422))
async def drain(node_id: NodePath, hive: HiveDep, _: AdminAuth) -> DrainState:
    return await _set_drained(hive, node_id, True)


@router.post("/nodes/{node_id}/undrain", responses=error_responses(401, 403, 404, 422))
async def undrain(node_id: NodePath, hive: HiveDep, _: AdminAuth) -> DrainState:
    return await _set_drained(hive, node_id, False)
