"""``GET|HEAD /data/{path}``, ``/{path}`` and ``/by-hash/{sha256}`` as plain ASGI.

This is the hot path, so it skips the framework (routing, middleware stack;
that halves the in-process cost of a cached answer): a request is a
dictionary lookup in the cached manifest and, for anything up to the cache's
item size, a lookup in the in-memory blob cache. Paths are checked before any
lookup and only ever compared with manifest keys: nothing here can name a
file, a Valkey key outside the asset plane, or anything but a manifest path.
"""

from __future__ import annotations

import logging
import re
from typing import Any, Final

from starlette.types import Receive, Scope, Send

from keyforge_assets.conditional import UNSATISFIABLE, ByteRange, etag_matches, requested_range
from keyforge_assets.gateway import Gateway
from keyforge_shared.asset_paths import MAX_PATH_LENGTH, is_safe_asset_path, is_sha256
from keyforge_shared.asset_store import AssetMissing, read_blob_info, read_chunks
from keyforge_shared.errors import error_response

log = logging.getLogger(__name__)

FRAMEWORK_PATHS: Final = frozenset({"/manifest", "/health", "/livez", "/readyz"})
PATH_CACHE_CONTROL: Final = b"public, max-age=60"
HASH_CACHE_CONTROL: Final = b"public, max-age=31536000, immutable"
# Raw request paths the gateway will even look at: the characters asset names
# use. Percent signs (any encoding, double encoding), backslashes, NUL and
# everything non-ASCII stop here.
_RAW_PATH: Final = re.compile(rb"/[A-Za-z0-9._+/-]*\Z")


class Refusal(Exception):
    def __init__(self, status: int, code: str, detail: str, headers: dict[str, str] | None = None):
        super().__init__(detail)
        self.status, self.code, self.detail, self.headers = status, code, detail, headers or {}


def asset_target(scope: Scope) -> tuple[str, str]:
    """("path", manifest path) or ("hash", sha256) for a request; Refusal otherwise."""
    raw: bytes = scope.get("raw_path") or scope["path"].encode("utf-8", "replace")
    if len(raw) > MAX_PATH_LENGTH + 16:
        raise Refusal(400, "bad_path", "path is too long")
    if not _RAW_PATH.match(raw):
        raise Refusal(400, "bad_path", "path has characters asset paths never use")
    text = raw.decode("ascii")
    if text.startswith("/by-hash/"):
        sha256 = text.removeprefix("/by-hash/")
        if not is_sha256(sha256):
            raise Refusal(404, "not_found", "not a stored content hash")
        return "hash", sha256
    path = text.removeprefix("/data/") if text.startswith("/data/") else text[1:]
    if not is_safe_asset_path(path):
        raise Refusal(400, "bad_path", "not a relative, normalised asset path")
    return "path", path


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value).decode("latin-1")
    return None


async def answer_asset_request(
    gateway: Gateway, scope: Scope, receive: Receive, send: Send
) -> None:
    """One asset request, refusals rendered as the contract's error envelope."""
    try:
        await serve_asset(gateway, scope, send)
    except Refusal as refusal:
        response = error_response(
            refusal.status, refusal.code, refusal.detail, headers=refusal.headers
        )
        await response(scope, receive, send)


async def serve_asset(gateway: Gateway, scope: Scope, send: Send) -> None:
    if scope["method"] not in ("GET", "HEAD"):
        raise Refusal(405, "method_not_allowed", "assets are read-only", {"Allow": "GET, HEAD"})
    kind, name = asset_target(scope)
    if gateway.manifest.snapshot is None:
        raise Refusal(503, "dependency_down", "manifest not loaded yet", {"Retry-After": "1"})
    if kind == "hash":
        size, content_type = await _stored_content(gateway, name)
        sha256, cache_control = name, HASH_CACHE_CONTROL
    else:
        entry = gateway.manifest.entry(name)
        if entry is None:
            raise Refusal(404, "not_found", f"no asset at {name}")
        sha256, size, content_type = entry.sha256, entry.size, entry.content_type
        cache_control = PATH_CACHE_CONTROL
    etag = f'"{sha256}"'
    validators = [(b"etag", etag.encode()), (b"cache-control", cache_control)]
    if_none_match = _header(scope, b"if-none-match")
    if if_none_match is not None and etag_matches(if_none_match, etag):
        await send({"type": "http.response.start", "status": 304, "headers": validators})
        await send({"type": "http.response.body", "body": b""})
        return
    byte_range = _range_of(scope, etag, size)
    if byte_range is UNSATISFIABLE:
        raise Refusal(416, "range_not_satisfiable", "range outside the content",
                      {"Content-Range": f"bytes */{size}"})  # fmt: skip
    span = byte_range or ByteRange(0, size - 1)
    headers = [
        (b"content-type", content_type.encode()),
        (b"content-length", str(span.length).encode()),
        (b"accept-ranges", b"bytes"),
        (b"x-content-type-options", b"nosniff"),
        *validators,
    ]
    if byte_range is not None:
        headers.append((b"content-range", f"bytes {span.start}-{span.end}/{size}".encode()))
    start: dict[str, Any] = {
        "type": "http.response.start",
        "status": 206 if byte_range else 200,
        "headers": headers,
    }
    if scope["method"] == "HEAD":
        await send(start)
        await send({"type": "http.response.body", "body": b""})
    elif gateway.blobs.holds(size):
        data = await _cached_bytes(gateway, sha256)
        await send(start)
        body = data if byte_range is None else data[span.start : span.end + 1]
        await send({"type": "http.response.body", "body": body})
    else:
        await _stream(gateway, sha256, span, start, send)


def _range_of(scope: Scope, etag: str, size: int) -> ByteRange | None:
    header = _header(scope, b"range")
    if header is None:
        return None
    if_range = _header(scope, b"if-range")
    if if_range is not None and if_range.strip() != etag:
        return None  # the client's copy is another version: send all of this one
    return requested_range(header, size)


async def _stored_content(gateway: Gateway, sha256: str) -> tuple[int, str]:
    entry = gateway.manifest.by_hash.get(sha256)
    if entry is not None:
        return entry.size, entry.content_type
    info = await read_blob_info(gateway.valkey, gateway.keys, sha256)
    if info is None:
        raise Refusal(404, "not_found", "no stored content with this hash")
    return info.size, info.content_type


async def _cached_bytes(gateway: Gateway, sha256: str) -> bytes:
    try:
        return await gateway.blobs.load(sha256)
    except AssetMissing:
        # The manifest named bytes Valkey no longer has (data loss): re-read it now.
        gateway.manifest.wake.set()
        raise Refusal(503, "dependency_down", "asset bytes are being restored",
                      {"Retry-After": "1"}) from None  # fmt: skip


async def _stream(
    gateway: Gateway, sha256: str, span: ByteRange, start: dict[str, Any], send: Send
) -> None:
    """Chunk by chunk from Valkey: a large asset is never whole in this process."""
    info = await read_blob_info(gateway.valkey, gateway.keys, sha256)
    if info is None:
        gateway.manifest.wake.set()
        raise Refusal(503, "dependency_down", "asset bytes are being restored",
                      {"Retry-After": "1"})  # fmt: skip
    await send(start)
    if span.length <= 0:
        await send({"type": "http.response.body", "body": b""})
        return
    chunks = info.chunk_span(span.start, span.end)
    offset = chunks.start * info.chunk_size
    async for chunk in read_chunks(gateway.valkey, gateway.keys, sha256, chunks, batch=2):
        piece = chunk[max(span.start - offset, 0) : span.end + 1 - offset]
        offset += len(chunk)
        await send({"type": "http.response.body", "body": piece, "more_body": True})
    await send({"type": "http.response.body", "body": b""})
