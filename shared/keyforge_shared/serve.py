"""Run one service's ASGI app under uvicorn, the way every ``keyforge-*`` command does."""

from __future__ import annotations

import logging
import sys

import uvicorn

# A SIGTERM lets in-flight requests finish for this long before the process exits.
GRACEFUL_SHUTDOWN_S = 10


def configure_logging(level: str) -> None:
    logging.basicConfig(
        level=level.upper(),
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


def serve(factory: str, *, host: str, port: int, log_level: str, workers: int = 1) -> None:
    """Serve the app that ``factory`` ("module:function") builds from the environment.

    An import path rather than an app object, so ``workers > 1`` can build one
    app per worker process.
    """
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
        proxy_headers=False,
        server_header=False,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
        lifespan="on",
    )
