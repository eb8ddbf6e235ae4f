"""Run one service's ASGI app under uvicorn, the way every ``keyforge-*`` command does."""

from __future__ import annotations

import logging
import sys

import uvicorn
from fastapi import FastAPI

# A SIGTERM lets in-flight requests finish for this long before the process exits.
GRACEFUL_SHUTDOWN_S = 10


def configure_logging(level: str) -> None:
    logging.basicConfig(
        level=level.upper(),
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


def serve(app: FastAPI, *, host: str, port: int, log_level: str) -> None:
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level=log_level,
        log_config=None,  # keep our logging set-up
        access_log=False,
        proxy_headers=False,
        server_header=False,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
        lifespan="on",
    )
    server = uvicorn.Server(config)
    server.run()
    if not server.started:
        # The lifespan failed (a dependency never came up): say so with the exit code.
        raise SystemExit(3)
