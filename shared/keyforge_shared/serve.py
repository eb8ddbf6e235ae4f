"""Run one service's ASGI app under uvicorn, the way every ``keyforge-*`` command does."""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence

import uvicorn

from keyforge_shared.settings import ServiceSettings

# A SIGTERM lets in-flight requests finish for this long before the process exits.
GRACEFUL_SHUTDOWN_S = 10
# An idle kept-alive connection is closed after this long. Longer than the
# clients' own pool expiry (httpx: 5 s) on purpose: the client always drops an
# idle connection first, so none sends a request on one the server is closing
# at that very moment (which fails as a transport error, without an answer).
KEEP_ALIVE_S = 30


def configure_logging(level: str) -> None:
    logging.basicConfig(
        level=level.upper(),
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


def serve(
    factory: str,
    *,
    host: str,
    port: int,
    log_level: str,
    workers: int = 1,
    trusted_proxies: Sequence[str] = (),
) -> None:
    """Serve the app that ``factory`` ("module:function") builds from the environment.

    An import path rather than an app object, so ``workers > 1`` can build one
    app per worker process. ``X-Forwarded-*`` is believed from
    ``trusted_proxies`` only.
    """
    trusted = list(trusted_proxies)
    # uvicorn exits with status 3 itself when a lifespan fails to start.
    uvicorn.run(
        factory,
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level=log_level,
        log_config=None,  # keep our logging set-up
        access_log=False,
        proxy_headers=bool(trusted),
        forwarded_allow_ips=trusted or None,
        server_header=False,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
        timeout_keep_alive=KEEP_ALIVE_S,
        lifespan="on",
    )


def serve_service(factory: str, settings: ServiceSettings) -> None:
    """``serve`` with the listen address, log level, workers and trusted proxies of a
    service's settings."""
    serve(
        factory,
        host=settings.listen_host,
        port=settings.listen_port,
        log_level=settings.log_level,
        workers=settings.workers,
        trusted_proxies=settings.trusted_networks,
    )
