from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI
from pydantic import BaseModel, Field

from keyforge_shared.errors import Conflict, DependencyDown, install_error_handlers
from tests.support import serve_app


class Beat(BaseModel):
    ips: float = Field(ge=0)


def make_app() -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)

    @app.post("/beat")
    async def beat(body: Beat) -> dict[str, float]:
        return {"ips": body.ips}

    @app.get("/conflict")
    async def conflict() -> None:
        raise Conflict("score is off", code="score_mismatch", extra={"expected_score": 1.5})

    @app.get("/down")
    async def down() -> None:
        raise DependencyDown("valkey is unreachable", retry_after_s=7)

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("postgresql://user:hunter2@db/keyforge exploded")

    return app


@pytest.fixture
async def client() -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=make_app(), raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url="http://test")


async def test_domain_error_renders_envelope_with_extras(client: httpx.AsyncClient) -> None:
    response = await client.get("/conflict")
    assert response.status_code == 409
    assert response.json() == {
        "error": "score_mismatch",
        "detail": "score is off",
        "expected_score": 1.5,
    }


async def test_schema_errors_are_422_envelopes_naming_the_field(client: httpx.AsyncClient) -> None:
    response = await client.post("/beat", json={"ips": -1})
    assert response.status_code == 422
    body = response.json()
    assert body["error"] == "validation_error"
    assert "ips" in body["detail"]
    assert body["fields"] == ["ips"]


async def test_unknown_route_is_404_envelope(client: httpx.AsyncClient) -> None:
    response = await client.get("/nowhere")
    assert response.status_code == 404
    assert response.json()["error"] == "not_found"


async def test_dependency_down_carries_retry_after(client: httpx.AsyncClient) -> None:
    response = await client.get("/down")
    assert response.status_code == 503
    assert response.headers["retry-after"] == "7"
    assert response.json()["error"] == "dependency_down"


async def test_unexpected_errors_leak_nothing(caplog: pytest.LogCaptureFixture) -> None:
    async with serve_app(make_app()) as url, httpx.AsyncClient(base_url=url) as client:
        response = await client.get("/boom")
    assert response.status_code == 500
    assert response.json() == {
        "error": "internal_error",
        "detail": "the server hit an unexpected error",
    }
    assert "hunter2" not in caplog.text
    assert "Traceback" not in caplog.text
    assert "RuntimeError" in caplog.text
