"""``GET/PUT /settings``: the runtime settings object, admin only.

The body is exactly the settings object, so what a GET returns can be PUT
back; the version travels as the ``ETag``, and a PUT with ``If-Match``
fails with 409 instead of overwriting a change made meanwhile.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Header
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from keyforge_hive.auth import AdminAuth
from keyforge_hive.settings_sync import replace_settings
from keyforge_hive.state import HiveDep
from keyforge_shared.errors import Conflict, KeyforgeError, validation_error_response
from keyforge_shared.protocol import headers
from keyforge_shared.protocol.errors import error_responses
from keyforge_shared.protocol.settings import RuntimeSettings
from keyforge_shared.runtime_settings import (
    SettingsConflict,
    StoredSettings,
    load_stored_settings,
)
from keyforge_shared.strict_input import parse_uint

router = APIRouter(tags=["settings"], responses=error_responses(401, 403, 503))


def _answer(stored: StoredSettings) -> JSONResponse:
    return JSONResponse(
        stored.settings.model_dump(),
        headers={
            "ETag": f'"{stored.version}"',
            "Last-Modified": stored.updated_at.strftime("%a, %d %b %Y %H:%M:%S GMT"),
            headers.UPDATED_BY: stored.updated_by,
            "Cache-Control": "no-store",
        },
    )


def _expected_version(if_match: str | None) -> int | None:
    if if_match is None or if_match.strip() == "*":
        return None
    tag = if_match.strip().removeprefix("W/").strip('"')
    version = parse_uint(tag)
    if version is None:
        raise KeyforgeError("If-Match must be the ETag of GET /settings", code="bad_if_match")
    return version


# JSONResponses: the version and its author travel in headers (ETag, Last-Modified).
@router.get("/settings", response_model=RuntimeSettings)
async def get_settings(hive: HiveDep, _: AdminAuth) -> JSONResponse:
    return _answer(await load_stored_settings(hive.pool, actor="hive"))


@router.put(
    "/settings",
    response_model=RuntimeSettings,
    responses=error_responses(400, 409, 422),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/RuntimeSettings"}}
            },
        }
    },
)
async def put_settings(
    # A plain object, validated by replace_settings as a full replace (every field
    # present), so that the 422 names each missing or invalid field at once.
    body: Annotated[dict[str, Any], Body()],
    hive: HiveDep,
    role: AdminAuth,
    if_match: Annotated[str | None, Header()] = None,
) -> JSONResponse:
    """A full replace: every field must be present; 422 names each invalid one."""
    try:
        stored = await replace_settings(
            hive, body, actor=role.value, expected_version=_expected_version(if_match)
        )
    except ValidationError as exc:
        return validation_error_response(exc.errors(include_url=False, include_input=False))
    except SettingsConflict as exc:
        raise Conflict(str(exc), code="settings_changed", extra={"version": exc.current}) from None
    return _answer(stored)
