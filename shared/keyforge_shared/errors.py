"""One error base and the one place that renders the contract's error envelope.

Every error answer is ``{"error": "<machine_code>", "detail": "<human text>"}``
plus optional extra fields (``expected_score``, health ``checks``...).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import Any

import asyncpg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import OutOfMemoryError
from redis.exceptions import TimeoutError as RedisTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger(__name__)


class KeyforgeError(Exception):
    """An expected failure with its status code and machine-readable code."""

    status_code: int = 400
    code: str = "bad_request"

    def __init__(
        self,
        detail: str,
        *,
        code: str | None = None,
        status_code: int | None = None,
        headers: Mapping[str, str] | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        if code is not None:
            self.code = code
        if status_code is not None:
            self.status_code = status_code
        self.headers = dict(headers or {})
        self.extra = dict(extra or {})


class NotFound(KeyforgeError):
    status_code = 404
    code = "not_found"


class Conflict(KeyforgeError):
    status_code = 409
    code = "conflict"


class Unauthorized(KeyforgeError):
    status_code = 401
    code = "unauthorized"


class Forbidden(KeyforgeError):
    status_code = 403
    code = "forbidden"


class DependencyDown(KeyforgeError):
    status_code = 503
    code = "dependency_down"

    def __init__(self, detail: str, *, retry_after_s: int = 5, **kwargs: Any) -> None:
        super().__init__(detail, headers={"Retry-After": str(retry_after_s)}, **kwargs)


# A store that is down, frozen or too slow: the client did nothing wrong and
# should come back shortly. TimeoutError covers asyncpg's acquire and command
# timeouts (and any asyncio.timeout around a store call).
STORE_DOWN_RETRY_AFTER_S = 2
_POSTGRES_DOWN: tuple[type[Exception], ...] = (
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,
    asyncpg.TooManyConnectionsError,
    asyncpg.QueryCanceledError,  # statement_timeout
    asyncpg.LockNotAvailableError,  # lock_timeout
)
# OutOfMemoryError: Valkey at its maxmemory (noeviction, infra/valkey/valkey.conf).
_VALKEY_DOWN: tuple[type[Exception], ...] = (
    RedisConnectionError,
    RedisTimeoutError,
    OutOfMemoryError,
)
STORE_DOWN_ERRORS: tuple[type[Exception], ...] = (
    TimeoutError,
    ConnectionError,
    *_POSTGRES_DOWN,
    *_VALKEY_DOWN,
)


def error_response(
    status_code: int,
    code: str,
    detail: str,
    *,
    headers: Mapping[str, str] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {"error": code, "detail": detail}
    body.update(extra or {})
    return JSONResponse(body, status_code=status_code, headers=dict(headers or {}))


def _code_for_status(status_code: int) -> str:
    try:
        return HTTPStatus(status_code).phrase.lower().replace(" ", "_").replace("-", "_")
    except ValueError:
        return "error"


def validation_error_response(errors: Sequence[Mapping[str, Any]]) -> JSONResponse:
    """The 422 envelope: the first few problems in ``detail``, every field in ``fields``."""

    def where(err: Mapping[str, Any]) -> str:
        return ".".join(str(p) for p in err.get("loc", ()) if p != "body") or "body"

    problems = [f"{where(err)}: {err.get('msg', 'invalid')}" for err in errors[:5]]
    return error_response(
        422,
        "validation_error",
        "; ".join(problems) or "request does not match the schema",
        extra={"fields": sorted({where(err) for err in errors})},
    )


async def _on_keyforge_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, KeyforgeError)
    return error_response(
        exc.status_code, exc.code, exc.detail, headers=exc.headers, extra=exc.extra
    )


async def _on_validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return validation_error_response(exc.errors())


async def _on_http_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    detail = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).phrase
    return error_response(
        exc.status_code, _code_for_status(exc.status_code), detail, headers=exc.headers
    )


class ContainUnexpectedErrors:
    """Answer an unexpected exception with a bare 500 envelope and swallow it.

    Starlette's outermost middleware re-raises such errors so the server logs
    their traceback; tracebacks and exception text can quote secrets or DSNs,
    so this layer, just inside it, logs one line with the exception's type.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:
            log.error(
                "unhandled %s on %s %s", type(exc).__name__, scope.get("method"), scope.get("path")
            )
            if not started:
                response = error_response(
                    500, "internal_error", "the server hit an unexpected error"
                )
                await response(scope, receive, send)


async def _on_store_down(request: Request, exc: Exception) -> JSONResponse:
    if isinstance(exc, _POSTGRES_DOWN):
        which = "the database"
    elif isinstance(exc, _VALKEY_DOWN):
        which = "valkey"
    else:
        which = "a store"
    # The type only: the text of a connection error can quote a DSN.
    log.warning("%s on %s %s: answered 503", type(exc).__name__, request.method, request.url.path)
    return error_response(
        503,
        DependencyDown.code,
        f"{which} is unavailable or too slow, retry shortly",
        headers={"Retry-After": str(STORE_DOWN_RETRY_AFTER_S)},
    )


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(KeyforgeError, _on_keyforge_error)
    for error in STORE_DOWN_ERRORS:
        app.add_exception_handler(error, _on_store_down)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_error)
    app.add_middleware(ContainUnexpectedErrors)
