"""``POST /nodes/{node_id}/heartbeat`` as a plain ASGI endpoint.

This is the fleet's hottest path: every node, every few seconds. Measured on
this machine, FastAPI's per-request machinery (dependency solving, the Request
object, response wrapping) costs more than validating and storing a
heartbeat. As a plain endpoint the hive keeps the same auth, the same
pydantic model, the same error envelopes and the same guarantee (no answer
before the beat is stored in Valkey) for a fraction of the cost. Everything
else in the hive is an ordinary FastAPI route; this one is documented in the
OpenAPI schema by :func:`document_heartbeat`.
"""

from __future__ import annotations

import re
from typing import Any

import asyncpg
from pydantic import BaseModel, ValidationError
from redis.exceptions import RedisError
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from keyforge_hive.auth import (
    NODE_AUTH_REQUIRED,
    TOKEN_REQUIRED,
    Role,
    role_of_scope,
    token_of_scope,
)
from keyforge_hive.nodes.heartbeats import BeatOutcome
from keyforge_hive.nodes.telemetry import encode_telemetry
from keyforge_hive.nodes.tokens import token_hash
from keyforge_hive.state import Hive
from keyforge_shared.errors import error_response, validation_error_response
from keyforge_shared.protocol import headers
from keyforge_shared.protocol.errors import ERROR_STATUSES, ErrorBody, ValidationErrorBody
from keyforge_shared.protocol.nodes import HeartbeatIn

PATH = "/nodes/{node_id}/heartbeat"
INTERVAL_HEADER = headers.raw(headers.HEARTBEAT_INTERVAL)
# From the hive's in-memory copy of the layers: a beat never queries Postgres for it.
CONFIG_VERSION_HEADER = headers.raw(headers.CONFIG_VERSION)
REF = "#/components/schemas/{model}"
_NODE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


async def _read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b""
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


def _caller(scope: Scope) -> Response | bytes | None:
    """The token hash the beat must match (None: the admin, unchecked), or a 401."""
    role = role_of_scope(scope)
    if role is None:
        return error_response(401, "unauthorized", NODE_AUTH_REQUIRED)
    if role is Role.ADMIN:
        return None
    token = token_of_scope(scope)
    if token is None:
        return error_response(401, "node_token_required", TOKEN_REQUIRED)
    return token_hash(token)


async def update_heartbeat_request(hive: Hive, scope: Scope, receive: Receive) -> Response | None:
    """Store one heartbeat; an error response, or None once the beat is stored."""
    digest = _caller(scope)
    if isinstance(digest, Response):
        return digest
    node_id: str = scope["path_params"]["node_id"]
    if not _NODE_ID.match(node_id):
        problem = {"loc": ("path", "node_id"), "msg": "must be 1-128 of A-Z a-z 0-9 . _ : -"}
        return validation_error_response([problem])
    try:
        beat = HeartbeatIn.model_validate_json(await _read_body(receive))
    except ValidationError as exc:
        return validation_error_response(exc.errors(include_url=False, include_input=False))
    # The token is compared inside the batch's script (its hash is in the registry).
    try:
        outcome = await hive.heartbeats.update_heartbeat(node_id, encode_telemetry(beat), digest)
    except (RedisError, ConnectionError):
        return error_response(
            503,
            "dependency_down",
            "heartbeat store unavailable, retry shortly",
            headers={"Retry-After": "2"},
        )
    return await _refusal(hive, outcome, node_id, scope)


async def _refusal(hive: Hive, outcome: BeatOutcome, node_id: str, scope: Scope) -> Response | None:
    """None for a stored beat; else why not: unknown node (404), or a token that is
    another node's (403) or nobody's (401), told apart only on this rare path."""
    if outcome is BeatOutcome.UNKNOWN_NODE:
        return error_response(404, "unknown_node", f"node {node_id!r} is not registered")
    if outcome is not BeatOutcome.WRONG_TOKEN:
        return None
    token = token_of_scope(scope)
    try:
        owner = await hive.tokens.node_of(token) if token else None
    except (OSError, asyncpg.PostgresError):
        owner = None
    if owner is None:
        return error_response(401, "node_token_required", TOKEN_REQUIRED)
    return error_response(403, "wrong_node", f"this node token does not belong to node {node_id!r}")


class HeartbeatEndpoint:
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        hive: Hive = scope["app"].state.hive
        problem = await update_heartbeat_request(hive, scope, receive)
        if problem is not None:
            await problem(scope, receive, send)
            return
        interval = f"{hive.runtime.current.heartbeat_interval_s:g}".encode()
        start = {
            "type": "http.response.start",
            "status": 204,
            "headers": [
                (INTERVAL_HEADER, interval),
                (CONFIG_VERSION_HEADER, str(hive.fleet.config_version).encode()),
            ],
        }
        await send(start)
        await send({"type": "http.response.body", "body": b""})


# OpenAPI fragments are free-form JSON documents: dicts, built from the models.
def _error(status: int, description: str) -> dict[str, Any]:
    model = ValidationErrorBody if status == 422 else ErrorBody
    return {
        "description": f"{ERROR_STATUSES[status]}: {description}",
        "content": {"application/json": {"schema": {"$ref": REF.format(model=model.__name__)}}},
    }


def _component(components: dict[str, Any], model: type[BaseModel]) -> dict[str, str]:
    components[model.__name__] = model.model_json_schema(ref_template=REF)
    return {"$ref": REF.format(model=model.__name__)}


def document_heartbeat(schema: dict[str, Any]) -> dict[str, Any]:
    """Add the plain endpoint to an OpenAPI document FastAPI generated for the rest,
    from the same models and header names the endpoint uses."""
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    body = _component(components, HeartbeatIn)
    for model in (ErrorBody, ValidationErrorBody):
        _component(components, model)
    secret = {"name": headers.NODE_SECRET, "in": "header", "schema": {"type": "string"}}
    schema.setdefault("paths", {})[PATH] = {
        "post": {
            "summary": "Heartbeat",
            "tags": ["nodes"],
            "operationId": "heartbeat",
            "parameters": [
                {
                    "name": "node_id",
                    "in": "path",
                    "required": True,
                    "schema": {"type": "string", "pattern": _NODE_ID.pattern},
                },
                {**secret, "required": False},
                {
                    "name": headers.NODE_TOKEN,
                    "in": "header",
                    "required": False,
                    "schema": {"type": "string"},
                },
            ],
            "requestBody": {"required": True, "content": {"application/json": {"schema": body}}},
            "responses": {
                "204": {
                    "description": "stored; the interval header says when to beat next",
                    "headers": {
                        headers.HEARTBEAT_INTERVAL: {
                            "description": "seconds until the next beat is due",
                            "schema": {"type": "number"},
                        },
                        headers.CONFIG_VERSION: {
                            "description": "the node config version now current: when it "
                            "changed, fetch GET /nodes/{node_id}/config",
                            "schema": {"type": "integer"},
                        },
                    },
                },
                "401": _error(401, "no valid secret, or node_token_required"),
                "403": _error(403, "wrong_node: the token is another node's"),
                "404": _error(404, "unknown_node: register again"),
                "422": _error(422, "invalid heartbeat"),
                "503": _error(503, "heartbeat store unavailable"),
            },
        }
    }
    return schema
