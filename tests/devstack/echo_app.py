"""An upstream that answers every request with what it saw: the proxy tests' witness."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request


def create_app() -> FastAPI:
    app = FastAPI()

    @app.api_route("/{path:path}", methods=["GET", "POST"])
    async def echo(request: Request, path: str) -> dict[str, Any]:
        return {
            "path": path,
            "client": request.client.host if request.client else None,
            "scheme": request.url.scheme,
            "headers": dict(request.headers),
        }

    return app
