from __future__ import annotations

import asyncio
import signal
import subprocess
import time
from pathlib import Path

import httpx
from redis.asyncio import Redis

from tests.conftest import ValkeyFixture
from tests.hive.conftest import NODE_HEADERS, hive_processes, register


async def test_sigterm_answers_parked_long_polls_instead_of_cutting_them(
    database_url: str, valkey: ValkeyFixture, valkey_admin: Redis, tmp_path: Path
) -> None:
    processes: list[subprocess.Popen[bytes]] = []
    async with hive_processes(database_url, valkey, tmp_path, 1, processes) as (hive,):
        await register(hive, "n1")
        poll = asyncio.create_task(
            hive.get("/jobs/queue", params={"node_id": "n1"}, headers=NODE_HEADERS, timeout=30)
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
    # Well inside uvicorn's 10 s grace, which would otherwise cut the poll off.
    assert answered_after < 5, answered_after
    assert stream_closed_after < 5, stream_closed_after


async def read_whole_stream(hive: httpx.AsyncClient) -> None:
    async with hive.stream("GET", "/events", timeout=30) as response:
        async for _ in response.aiter_bytes():
            pass
