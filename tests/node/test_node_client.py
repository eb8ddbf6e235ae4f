"""The node's hive protocol against a scripted hive: re-authentication, re-registration."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse

from keyforge_node.heartbeat import WorkMeter, heartbeat_loop
from keyforge_node.hive_client import (
    AuthRefused,
    HiveClient,
    HiveUnavailable,
    Refused,
    UnknownNode,
)
from keyforge_node.session import NodeSession
from keyforge_shared.client import secret_source
from keyforge_shared.client.endpoints import Endpoint, async_client
from keyforge_shared.client.secret_source import SecretSource
from keyforge_shared.protocol import headers
from keyforge_shared.protocol.jobs import ResultIn
from keyforge_shared.protocol.nodes import HeartbeatIn, NodeRegistration
from tests.support import serve_app, wait_until

IDLE = HeartbeatIn(ips=0)
RESULT = ResultIn(job_id="j", layout="KC_A KC_B", score=1.0, node_id="n1")


def registration(node_id: str) -> NodeRegistration:
    return NodeRegistration(
        node_id=node_id, cpu_model="scripted", cores=2, l2_cache_kb=None, ops_per_sec=1.0
    )


@dataclass
class ScriptedHive:
    """Accepts one secret at a time, forgets nodes on demand, fails on demand."""

    secret: str = "old-secret"
    known: set[str] = field(default_factory=set)
    seen_secrets: list[str] = field(default_factory=list)
    registrations: int = 0
    beats: int = 0
    result_answer: tuple[int, dict[str, Any]] = (
        200,
        {"status": "accepted", "score": 1.0, "record": False},
    )

    def app(self) -> FastAPI:
        app = FastAPI()

        def refused(request: Request) -> Response | None:
            presented = request.headers.get(headers.NODE_SECRET, "")
            self.seen_secrets.append(presented)
            if presented != self.secret:
                return JSONResponse({"error": "unauthorized", "detail": "no"}, status_code=401)
            return None

        @app.post("/nodes/register")
        async def register(request: Request) -> Response:
            if (problem := refused(request)) is not None:
                return problem
            self.known.add((await request.json())["node_id"])
            self.registrations += 1
            tuning = {"strategy": "fly", "batch_size": 10_000, "thread_count": 1}
            return JSONResponse(
                {"status": "registered", "tuning": tuning, "heartbeat_interval_s": 0.1}
            )

        @app.post("/nodes/{node_id}/heartbeat")
        async def heartbeat(node_id: str, request: Request) -> Response:
            if (problem := refused(request)) is not None:
                return problem
            if node_id not in self.known:
                body = {"error": "unknown_node", "detail": "register again"}
                return JSONResponse(body, status_code=404)
            self.beats += 1
            return Response(status_code=204, headers={headers.HEARTBEAT_INTERVAL: "0.1"})

        @app.post("/results")
        async def results(request: Request) -> Response:
            if (problem := refused(request)) is not None:
                return problem
            status, body = self.result_answer
            headers = {"Retry-After": "3"} if status == 503 else {}
            return JSONResponse(body, status_code=status, headers=headers)

        return app


@pytest.fixture
async def scripted() -> AsyncIterator[tuple[ScriptedHive, httpx.AsyncClient]]:
    hive = ScriptedHive()
    async with serve_app(hive.app()) as url, async_client(Endpoint.parse(url)) as client:
        yield hive, client


def secret_file(tmp_path: Path, value: str) -> Path:
    path = tmp_path / "hive-secret"
    path.write_text(value + "\n")
    return path


async def test_a_refused_secret_is_read_again_from_its_file_and_the_call_goes_through(
    scripted: tuple[ScriptedHive, httpx.AsyncClient],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Only the 401 makes the client look at the file again here.
    monkeypatch.setattr(secret_source, "CHECK_INTERVAL_S", 3600.0)
    hive, http = scripted
    path = secret_file(tmp_path, "old-secret")
    client = HiveClient(http, SecretSource(path=path))
    await client.register(registration("n1"))
    # The rotation: the file gets the new secret and the hive stops taking the old one.
    path.write_text("new-secret\n")
    hive.secret = "new-secret"
    await client.heartbeat("n1", IDLE)
    assert hive.seen_secrets == ["old-secret", "old-secret", "new-secret"]
    assert hive.beats == 1
    hive.secret = "newer-secret"  # refused, and the file has nothing newer
    with pytest.raises(AuthRefused):
        await client.heartbeat("n1", IDLE)


async def test_answers_become_the_outcomes_the_loops_act_on(
    scripted: tuple[ScriptedHive, httpx.AsyncClient], tmp_path: Path
) -> None:
    hive, http = scripted
    client = HiveClient(http, SecretSource(path=secret_file(tmp_path, "old-secret")))
    with pytest.raises(UnknownNode):
        await client.heartbeat("never-registered", IDLE)
    hive.result_answer = (409, {"error": "stale_lease", "detail": "superseded"})
    with pytest.raises(Refused) as refused:
        await client.submit(RESULT)
    assert refused.value.code == "stale_lease"
    hive.result_answer = (503, {"error": "dependency_down", "detail": "later"})
    with pytest.raises(HiveUnavailable) as later:
        await client.submit(RESULT)
    assert later.value.retry_after_s == 3.0
    async with async_client(Endpoint.parse("http://127.0.0.1:9")) as nobody:
        with pytest.raises(HiveUnavailable):
            await HiveClient(nobody, client.secret).heartbeat("n1", IDLE)


async def test_a_node_the_hive_forgot_registers_again_and_keeps_beating(
    scripted: tuple[ScriptedHive, httpx.AsyncClient], tmp_path: Path
) -> None:
    hive, http = scripted
    stopping = asyncio.Event()
    session = NodeSession(
        HiveClient(http, SecretSource(path=secret_file(tmp_path, "old-secret"))),
        "n1",
        registration("n1"),
        stopping,
    )
    await session.register()
    loop = asyncio.create_task(heartbeat_loop(session, WorkMeter(), lambda: None))
    try:

        async def beats(count: int) -> bool:
            return hive.beats >= count

        await wait_until(lambda: beats(2), timeout_s=10)
        hive.known.clear()  # the hive lost its registry (Valkey flushed, say)
        before = hive.beats
        await wait_until(lambda: beats(before + 2), timeout_s=10)
        assert hive.registrations == 2
        assert session.generation == 2
    finally:
        stopping.set()
        await asyncio.wait_for(loop, 5)
