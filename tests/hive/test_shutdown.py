from __future__ import annotations

import asyncio
import signal
import subprocess
import time
from pathlib import Path

import httpx
from redis.asyncio import Redis

from tests.conftest import ValkeyFixture
from tests.hive.conftest import beat, hive_processes, node_headers, register


async def test_sigterm_answers_parked_long_polls_instead_of_cutting_them(
    database_url: str, valkey: ValkeyFixture, valkey_admin: Redis, tmp_path: Path
) -> None:
    processes: list[subprocess.Popen[bytes]] = []
    async with hive_processes(database_url, valkey, tmp_path, 1, processes) as (hive,):
        await register(hive, "n1")
        poll = asyncio.create_task(
            hive.get(
                "/jobs/queue", params={"node_id": "n1"}, headers=node_headers("n1"), timeout=30
            )
        )
        stream = asyncio.create_task(read_whole_stream(hive))
        await asyncio.sleep(1.0)  # parked: there is no job at all
        assert not poll.done()
        assert not stream.done()
        signalled = time.monotonic()
        processes[0].send_signal(signal.SIGTERM)
        response = await poll
        answered_after = time.monotonic() - signalled
        await asyncio.wait_for(stream, 5)  # the event stream ended cleanly, not cut
        stream_closed_after = time.monotonic() - signalled
    assert response.status_code == 200
    assert response.json()["job_id"] is None
    assert response.json()["lease_id"] is None
    # At the end of the 3 s drain, well inside uvicorn's 10 s grace, which
    # would otherwise cut the poll off.
    assert answered_after < 6, answered_after
    assert stream_closed_after < 6, stream_closed_after


async def test_sigterm_drains_before_the_hive_stops(
    database_url: str, valkey: ValkeyFixture, tmp_path: Path
) -> None:
    """Not ready for the proxy, still serving, each connection closed after its answer."""
    processes: list[subprocess.Popen[bytes]] = []
    drain = {"KEYFORGE_DRAIN_S": "30"}
    async with hive_processes(database_url, valkey, tmp_path, 1, processes, env=drain) as (hive,):
        ready = await hive.get("/readyz")
        assert ready.status_code == 200
        assert ready.json() == {"status": "ok"}
        assert "close" not in ready.headers.get("connection", "")

        processes[0].send_signal(signal.SIGTERM)
        await asyncio.sleep(1.0)
        assert processes[0].poll() is None
        not_ready = await hive.get("/readyz")
        assert not_ready.status_code == 503
        assert not_ready.json()["error"] == "draining"
        assert not_ready.headers["connection"] == "close"
        live = await hive.get("/livez")
        assert live.status_code == 200
        assert live.json() == {"status": "ok"}
        await register(hive, "late")
        answer = await beat(hive, "late")
        assert answer.status_code == 204
        assert answer.headers["connection"] == "close"

        # A second signal skips the rest of the drain.
        signalled = time.monotonic()
        processes[0].send_signal(signal.SIGTERM)
        await asyncio.to_thread(processes[0].wait, 15)
        assert time.monotonic() - signalled < 10


async def read_whole_stream(hive: httpx.AsyncClient) -> None:
    async with hive.stream("GET", "/events", timeout=30) as response:
        async for _ in response.aiter_bytes():
            pass
