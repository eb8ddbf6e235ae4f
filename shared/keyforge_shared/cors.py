"""CORS for exactly one origin, the front end's, on every path of a service.

A plain ASGI wrapper around the whole app, so raw ASGI endpoints (the
heartbeat, ``/events``, the gateway's asset handler) answer it as the routed
ones do. The front end only reads (GET, HEAD, and EventSource, which sends
``Last-Event-ID`` on reconnect); a request from any other origin gets no CORS
header at all, so browsers keep its answers from the page that asked.
"""

from __future__ import annotations

from typing import Any

from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp

READ_METHODS = ("GET", "HEAD")
# Headers a reading page may send beyond the CORS-safelisted ones.
REQUEST_HEADERS = ("Last-Event-ID", "If-None-Match", "Range")
# Headers it may read beyond the safelisted ones.
EXPOSED_HEADERS = ("ETag", "Retry-After", "Content-Range")
PREFLIGHT_MAX_AGE_S = 600


def cors_options(origin: str) -> dict[str, Any]:
    """Keyword arguments of ``CORSMiddleware`` for ``origin`` (scheme://host[:port]) alone."""
    return {
        "allow_origins": [origin],
        "allow_methods": list(READ_METHODS),
        "allow_headers": list(REQUEST_HEADERS),
        "expose_headers": list(EXPOSED_HEADERS),
        "max_age": PREFLIGHT_MAX_AGE_S,
    }


def allow_origin(app: ASGIApp, origin: str) -> ASGIApp:
    """``app`` answering CORS for ``origin`` and no other."""
    return CORSMiddleware(app, **cors_options(origin))
