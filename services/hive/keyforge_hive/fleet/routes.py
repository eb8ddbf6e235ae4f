"""``/fleet/freeze``, ``/fleet/config…`` and ``GET /nodes/{node_id}/config`` (seed 003)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Path
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from redis.exceptions import RedisError

from keyforge_hive.auth import AdminAuth, Caller, NodeAuth, Role
from keyforge_hive.fleet.freeze import (
    FreezeInPast,
    announce_freeze,
    clear_freeze,
    read_freeze,
    store_freeze,
)
from keyforge_hive.fleet.layers import FLEET_NAME, delete_layer, read_layer, store_layer
from keyforge_hive.state import Hive, HiveDep
from keyforge_shared.errors import DependencyDown, NotFound, validation_error_response
from keyforge_shared.protocol.errors import error_responses
from keyforge_shared.protocol.fields import NodeId, StorableText
from keyforge_shared.protocol.fleet import (
    FreezeIn,
    FreezeState,
    LayerScope,
    LayerView,
    NodeConfigView,
)

log = logging.getLogger(__name__)
router = APIRouter(tags=["fleet"], responses=error_responses(503))
# Admin routes; 422 is a bad path or a layer/freeze body that fails validation.
ADMIN_ERRORS = error_responses(401, 403, 422)

NodePath = Annotated[NodeId, Path()]
# A group is a node label value: text Postgres can store (a NUL in the path is a 422, not a 500).
GroupPath = Annotated[str, Path(min_length=1, max_length=256), StorableText]
LayerBody = Annotated[dict[str, Any], Body()]


# --- the dispatch freeze -------------------------------------------------------------


async def _announce(hive: Hive, state: FreezeState, cause: str) -> None:
    try:
        await announce_freeze(hive.valkey, hive.keys, state, cause)
    except (RedisError, OSError) as exc:
        # The freeze itself is committed and mirrored; only the news is lost.
        log.warning("fleet_freeze event lost: %s", type(exc).__name__)


@router.get("/fleet/freeze", response_model=FreezeState)
async def get_freeze(hive: HiveDep) -> FreezeState:
    stored = await read_freeze(hive.pool)
    return stored.state(datetime.now(UTC)) if stored else FreezeState(active=False)


@router.put("/fleet/freeze", response_model=FreezeState, responses=ADMIN_ERRORS)
async def put_freeze(body: FreezeIn, hive: HiveDep, role: AdminAuth) -> FreezeState | JSONResponse:
    """Stop every hive handing out leases, until ``until`` (null: until lifted)."""
    try:
        stored = await store_freeze(hive.pool, hive.valkey, hive.keys, body, actor=role.value)
    except FreezeInPast as exc:
        return validation_error_response([{"loc": ("until",), "msg": str(exc)}])
    except (RedisError, OSError):
        raise DependencyDown("the lease store is unavailable; the freeze was not set") from None
    state = stored.state(datetime.now(UTC))
    await _announce(hive, state, "set")
    return state


@router.delete("/fleet/freeze", response_model=FreezeState, responses=ADMIN_ERRORS)
async def delete_freeze(hive: HiveDep, role: AdminAuth) -> FreezeState:
    try:
        cleared = await clear_freeze(hive.pool, hive.valkey, hive.keys, actor=role.value)
    except (RedisError, OSError):
        raise DependencyDown("the lease store is unavailable; the freeze stands") from None
    state = FreezeState(active=False)
    if cleared is not None:
        await _announce(hive, state, "cleared")
    return state


# --- the config layers ---------------------------------------------------------------


async def _layer_view(hive: Hive, scope: LayerScope, name: str) -> LayerView:
    stored = await read_layer(hive.pool, scope, name)
    return LayerView(
        scope=scope,
        name=None if scope == "fleet" else name,
        layer=stored.layer,
        version=hive.fleet.config_version,
        updated_at=stored.updated_at,
        updated_by=stored.updated_by,
    )


async def _put_layer(
    hive: Hive, scope: LayerScope, name: str, body: dict[str, Any], role: Role
) -> LayerView | JSONResponse:
    """A full replace of one layer; 422 names each bad field and stores nothing."""
    try:
        stored, version = await store_layer(hive.pool, scope, name, body, actor=role.value)
    except ValidationError as exc:
        return validation_error_response(exc.errors(include_url=False, include_input=False))
    await hive.fleet.refresh(at_least=version)
    return LayerView(
        scope=scope,
        name=None if scope == "fleet" else name,
        layer=stored.layer,
        version=version,
        updated_at=stored.updated_at,
        updated_by=stored.updated_by,
    )


async def _delete_layer(hive: Hive, scope: LayerScope, name: str, role: Role) -> LayerView:
    version = await delete_layer(hive.pool, scope, name, actor=role.value)
    await hive.fleet.refresh(at_least=version)
    return await _layer_view(hive, scope, name)


@router.get("/fleet/config", response_model=LayerView, responses=ADMIN_ERRORS)
async def get_fleet_layer(hive: HiveDep, _: AdminAuth) -> LayerView:
    return await _layer_view(hive, "fleet", FLEET_NAME)


@router.put("/fleet/config", response_model=LayerView, responses=ADMIN_ERRORS)
async def put_fleet_layer(
    body: LayerBody, hive: HiveDep, role: AdminAuth
) -> LayerView | JSONResponse:
    return await _put_layer(hive, "fleet", FLEET_NAME, body, role)


@router.delete("/fleet/config", response_model=LayerView, responses=ADMIN_ERRORS)
async def delete_fleet_layer(hive: HiveDep, role: AdminAuth) -> LayerView:
    return await _delete_layer(hive, "fleet", FLEET_NAME, role)


@router.get("/fleet/config/groups/{group}", response_model=LayerView, responses=ADMIN_ERRORS)
async def get_group_layer(group: GroupPath, hive: HiveDep, _: AdminAuth) -> LayerView:
    return await _layer_view(hive, "group", group)


@router.put("/fleet/config/groups/{group}", response_model=LayerView, responses=ADMIN_ERRORS)
async def put_group_layer(
    group: GroupPath, body: LayerBody, hive: HiveDep, role: AdminAuth
) -> LayerView | JSONResponse:
    return await _put_layer(hive, "group", group, body, role)


@router.delete("/fleet/config/groups/{group}", response_model=LayerView, responses=ADMIN_ERRORS)
async def delete_group_layer(group: GroupPath, hive: HiveDep, role: AdminAuth) -> LayerView:
    return await _delete_layer(hive, "group", group, role)


@router.get("/fleet/config/nodes/{node_id}", response_model=LayerView, responses=ADMIN_ERRORS)
async def get_node_layer(node_id: NodePath, hive: HiveDep, _: AdminAuth) -> LayerView:
    return await _layer_view(hive, "node", node_id)


@router.put("/fleet/config/nodes/{node_id}", response_model=LayerView, responses=ADMIN_ERRORS)
async def put_node_layer(
    node_id: NodePath, body: LayerBody, hive: HiveDep, role: AdminAuth
) -> LayerView | JSONResponse:
    return await _put_layer(hive, "node", node_id, body, role)


@router.delete("/fleet/config/nodes/{node_id}", response_model=LayerView, responses=ADMIN_ERRORS)
async def delete_node_layer(node_id: NodePath, hive: HiveDep, role: AdminAuth) -> LayerView:
    return await _delete_layer(hive, "node", node_id, role)


# --- a node's effective config -------------------------------------------------------


def check_node_scope(caller: Caller, node_id: str) -> None:
    """Where a node-scoped request proves it is that node: the admin may act for any
    node, a node (by its token) for itself only (403 ``wrong_node``)."""
    caller.check(node_id)


@router.get(
    "/nodes/{node_id}/config",
    response_model=NodeConfigView,
    responses=error_responses(401, 403, 404, 422),
)
async def node_config(node_id: NodePath, hive: HiveDep, caller: NodeAuth) -> NodeConfigView:
    check_node_scope(caller, node_id)
    known, group = await hive.fleet.node_group(node_id)
    if not known:
        raise NotFound(f"node {node_id!r} is not registered", code="unknown_node")
    return hive.fleet.view(node_id, group)
