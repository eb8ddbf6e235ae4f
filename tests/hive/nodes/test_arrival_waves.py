"""Waves of arriving nodes (register, then the first heartbeat, hundreds in flight) over two
real hive processes: every call answered 2xx, every transition announced, nothing lost.

This is what a fleet does after a hive restart, a network blip or a Valkey
wipe. Bounded in count (waves x nodes), not in time.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from pathlib import Path

import httpx
from redis.asyncio import Redis

from keyforge_shared.protocol import headers as wire
from tests.conftest import ValkeyFixture
from tests.hive.conftest import NODE_HEADERS, hive_processes, registration
from tests.support import SseReader

WAVES = 3
NODES_PER_WAVE = 1_000
IN_FLIGHT = 256


async def post(
    client: httpx.AsyncClient, url: str, body: dict[str, object], headers: dict[str, str]
) -> httpx.Response:
    """One call as a node makes it: a kept-alive connection the server closed just as
    it was reused (a transport error, no answer) is retried once on a fresh one."""
    try:
        return await client.post(url, json=body, headers=headers)
    except (httpx.ReadError, httpx.RemoteProtocolError):
        return await client.post(url, json=body, headers=headers)


async def arrive(client: httpx.AsyncClient, node_id: str, gate: asyncio.Semaphore) -> list[int]:
    async with gate:
        registered = await post(client, "/nodes/register", registration(node_id), NODE_HEADERS)
        token = registered.json().get("node_token", "") if registered.status_code == 200 else ""
        as_node = {**NODE_HEADERS, wire.NODE_TOKEN: token}
        beat = await post(client, f"/nodes/{node_id}/heartbeat", {"ips": 1000.0}, as_node)
    return [registered.status_code, beat.status_code]


async def collect_ready(
    reader: SseReader, seen: Counter[str], history: dict[str, list[str]]
) -> None:
    while True:
        event = await reader.next_event(timeout_s=3600)
        if event.event == "node_status":
            node_id = event.data["node_id"]
            # Every status event of a node, so a failure shows what happened between.
            history.setdefault(node_id, []).append(f"{event.id}:{event.data['status']}")
            if event.data["status"] == "ready":
                seen[node_id] += 1


def read_logs(folder: Path) -> str:
    return "".join(p.read_text(errors="replace") for p in folder.glob("hive-*.log"))


async def test_waves_of_arriving_nodes_lose_nothing(
    database_url: str, valkey: ValkeyFixture, valkey_admin: Redis, tmp_path: Path
) -> None:
    async with hive_processes(database_url, valkey, tmp_path) as (a, b):
        limits = httpx.Limits(max_connections=IN_FLIGHT, max_keepalive_connections=IN_FLIGHT)
        async with (
            httpx.AsyncClient(base_url=str(a.base_url), limits=limits, timeout=60) as client_a,
            httpx.AsyncClient(base_url=str(b.base_url), limits=limits, timeout=60) as client_b,
            a.stream("GET", "/events", timeout=None) as events,
        ):
            assert events.status_code == 200
            seen: Counter[str] = Counter()
            history: dict[str, list[str]] = {}
            listener = asyncio.create_task(collect_ready(SseReader(events), seen, history))
            gate = asyncio.Semaphore(IN_FLIGHT)
            statuses: Counter[int] = Counter()
            expected: set[str] = set()
            try:
                for wave in range(WAVES):
                    ids = [f"wave{wave}-node{i}" for i in range(NODES_PER_WAVE)]
                    expected.update(ids)
                    answers = await asyncio.gather(
                        *(
                            arrive((client_a, client_b)[i % 2], node_id, gate)
                            for i, node_id in enumerate(ids)
                        )
                    )
                    statuses.update(code for pair in answers for code in pair)
                for _ in range(300):
                    if set(seen) >= expected:
                        break
                    await asyncio.sleep(0.1)
            finally:
                listener.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await listener
    assert all(200 <= code < 300 for code in statuses), statuses
    assert set(seen) == expected, f"{len(expected - set(seen))} transitions never announced"
    twice = {node_id: history[node_id] for node_id, count in seen.items() if count > 1}
    assert not twice, f"transitions announced twice: {twice}"
    logs = await asyncio.to_thread(read_logs, tmp_path)
    assert "event lost" not in logs
    assert "MaxConnectionsError" not in logs
