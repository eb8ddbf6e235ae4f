"""No result answered 200 is ever missing from Postgres, even when a hive dies mid-traffic."""

from __future__ import annotations

import asyncio
import random
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import httpx
from redis.asyncio import Redis

from keyforge_shared.processes import free_port, stop_process
from keyforge_shared.scoring import ScoringModel
from tests.conftest import ValkeyFixture
from tests.hive.conftest import SYSTEM_ASSETS, node_headers, register
from tests.hive.jobs_support import (
    create_job,
    job_spec,
    layout_keys,
    local_model,
    start_hive_process,
)

SUBMITTERS = 4
RESULTS_EACH = 30
KILL_AFTER = 30  # accepted results before one hive is killed


@dataclass
class Traffic:
    """Submitters that behave like nodes: on a failure, resend the same result elsewhere."""

    clients: list[httpx.AsyncClient]
    job_id: str
    model: ScoringModel
    accepted: dict[str, float] = field(default_factory=dict)
    resent: int = 0
    enough: asyncio.Event = field(default_factory=asyncio.Event)

    async def submit(self, layout: list[str], first: int) -> None:
        text = " ".join(layout)
        body = {
            "job_id": self.job_id,
            "layout": text,
            "score": self.model.score(layout),
            "node_id": f"node-{first}",
        }
        for attempt in range(20):
            client = self.clients[(first + attempt) % 2]
            try:
                response = await client.post(
                    "/results", json=body, headers=node_headers(f"node-{first}")
                )
            except httpx.TransportError:
                self.resent += 1
                await asyncio.sleep(0.1)
                continue
            if response.status_code == 200:
                self.accepted[text] = response.json()["score"]
                if len(self.accepted) >= KILL_AFTER:
                    self.enough.set()
                return
            assert response.status_code >= 500, response.text  # never a 4xx here
            self.resent += 1
        raise AssertionError("a result was never accepted")

    async def submitter(self, reference: list[str], seed: int) -> None:
        rng = random.Random(seed)
        for _ in range(RESULTS_EACH):
            layout = list(reference)
            rng.shuffle(layout)
            await self.submit(layout, seed)


async def stored_results(database_url: str, job_id: str) -> tuple[dict[str, float], int]:
    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch("SELECT layout, score FROM results WHERE job_id = $1", job_id)
        counted: int = await conn.fetchval(
            "SELECT result_count FROM jobs WHERE job_id = $1", job_id
        )
    finally:
        await conn.close()
    return {row["layout"]: row["score"] for row in rows}, counted


async def test_accepted_results_survive_a_hive_killed_mid_traffic(
    database_url: str,
    valkey: ValkeyFixture,
    valkey_admin: Redis,
    system_assets: set[str],
    tmp_path: Path,
) -> None:
    ports = [free_port(), free_port()]
    processes: list[subprocess.Popen[bytes]] = []
    try:
        for index, port in enumerate(ports):
            log = tmp_path / f"hive-{index}.log"
            processes.append(start_hive_process(database_url, valkey, log, port))
        clients = [httpx.AsyncClient(base_url=f"http://127.0.0.1:{p}", timeout=30) for p in ports]
        spec = job_spec()
        traffic = Traffic(
            clients, await create_job(clients[0], spec), local_model(SYSTEM_ASSETS, spec)
        )

        async def restart_hive_zero() -> None:
            await traffic.enough.wait()
            processes[0].kill()  # SIGKILL: no graceful drain of in-flight requests
            processes[0].wait()
            log = tmp_path / "hive-0-restarted.log"
            processes[0] = await asyncio.to_thread(
                start_hive_process, database_url, valkey, log, ports[0]
            )

        for seed in range(SUBMITTERS):
            await register(clients[1], f"node-{seed}")
        reference = layout_keys(SYSTEM_ASSETS, spec, "Qwerty")
        await asyncio.gather(
            restart_hive_zero(), *(traffic.submitter(reference, s) for s in range(SUBMITTERS))
        )
        for client in clients:
            await client.aclose()
    finally:
        await asyncio.gather(*(asyncio.to_thread(stop_process, p) for p in processes))

    stored, counted = await stored_results(database_url, traffic.job_id)
    print(f"{len(traffic.accepted)} accepted, {len(stored)} stored, {traffic.resent} resent")
    assert len(traffic.accepted) == SUBMITTERS * RESULTS_EACH
    assert all(stored.get(layout) == score for layout, score in traffic.accepted.items())
    assert counted == len(stored)
