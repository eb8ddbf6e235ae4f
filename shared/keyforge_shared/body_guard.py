"""Refuse oversized and non-JSON request bodies before any route parses them."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from keyforge_shared.errors import error_response
from keyforge_shared.strict_input import parse_uint

DEFAULT_BODY_LIMIT = 2 * 1024 * 1024
_BODY_METHODS = {"POST", "PUT", "PATCH"}


class RequestBodyGuard:
    """413 past ``limit`` bytes (declared or streamed), 415 for a body that is not JSON."""

    def __init__(self, app: ASGIApp, limit: int = DEFAULT_BODY_LIMIT) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in _BODY_METHODS:
            await self.app(scope, receive, send)
            return
        length: int | None = None
        content_type = b""
        chunked = False
        for name, value in scope["headers"]:
            if name == b"content-length":
                parsed = parse_uint(value)
                length = -1 if parsed is None else parsed
            elif name == b"content-type":
                content_type = value
            elif name == b"transfer-encoding":
                chunked = b"chunked" in value.lower()
        if length is not None and (length < 0 or length > self.limit):
            await self._refuse(scope, receive, send, 413)
            return
        has_body = chunked or bool(length)
        media_type = content_type.split(b";", 1)[0].strip().lower()
        if has_body and media_type != b"application/json" and not media_type.endswith(b"+json"):
            await self._refuse(scope, receive, send, 415)
            return
        if not chunked:
            await self.app(scope, receive, send)
            return
        await self._stream_bounded(scope, receive, send)

    async def _stream_bounded(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Count a chunked body as it arrives; past the limit, answer 413 ourselves,
        tell the route the client left, and swallow whatever it still tries to send."""
        received = 0
        started = refused = False

        async def bounded_receive() -> Message:
            nonlocal received, refused
            if refused:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit and not started:
                    refused = True
                    await self._refuse(scope, receive, send, 413)
                    return {"type": "http.disconnect"}
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if refused:
                return
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, bounded_receive, tracking_send)
        except Exception:
            if not refused:
                raise

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, status: int) -> None:
        if status == 413:
            response = error_response(
                413, "body_too_large", f"request body exceeds {self.limit} bytes"
            )
        else:
            response = error_response(
                415, "unsupported_media_type", "request body must be application/json"
            )
        await response(scope, receive, send)
