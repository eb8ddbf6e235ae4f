"""A store that is down answers fast 503s with Retry-After, and everything recovers by itself.

Postgres is frozen with SIGSTOP (what a stalled disk or a partition looks
like to a client: connections stay open, nothing answers), on a cluster of
its own so no other test sees it. Valkey losing its data is a FLUSHALL with
the asset manager running, as in production.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import shutil
import signal
import time
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest
from redis.asyncio import Redis

from keyforge_devstack.embedded import PostgresServer
from keyforge_migrations import upgrade_to_head
from keyforge_shared.processes import free_port
from tests.assetmgr.harness import manager_settings, running_manager
from tests.conftest import ValkeyFixture, postgres_workdir
from tests.hive.conftest import (
    ADMIN_HEADERS,
    SYSTEM_ASSETS,
    beat,
    member_headers,
    node_headers,
    register,
    running_hives,
)
from tests.hive.jobs_support import create_job, job_spec, layout_keys, local_model
from tests.support import wait_until

# The acceptance bound: a held connection times out after 4 s, a waiter after 3.5 s of no progress.
ANSWER_WITHIN_S = 5.0


@pytest.fixture
def own_postgres() -> Iterator[PostgresServer]:
    """A migrated cluster only this test uses, stopped by its PID (sync: it runs asyncio.run)."""
    with postgres_workdir() as workdir:
        server = PostgresServer(free_port(), workdir / "data", secrets.token_urlsafe(16))
        server.start()
        try:
            server.ensure_database()
            upgrade_to_head(server.dsn())
            yield server
        finally:
            server.stop()


@contextlib.contextmanager
def frozen(server: PostgresServer) -> Iterator[None]:
    """SIGSTOP the postmaster, then each of its children; SIGCONT them whatever happens.

    Postgres children call setsid(), so its process group is the postmaster
    alone; the children are found by parent PID. A stopped postmaster forks
    no new ones.
    """
    postmaster = psutil.Process(server.pid)
    postmaster.send_signal(signal.SIGSTOP)
    stopped = [postmaster]
    try:
        for child in postmaster.children(recursive=True):
            with contextlib.suppress(psutil.NoSuchProcess):
                child.send_signal(signal.SIGSTOP)
                stopped.append(child)
        yield
    finally:
        for process in reversed(stopped):
            with contextlib.suppress(psutil.NoSuchProcess):
                process.send_signal(signal.SIGCONT)


async def timed(call: Coroutine[Any, Any, httpx.Response]) -> tuple[httpx.Response, float]:
    started = time.perf_counter()
    response = await call
    return response, time.perf_counter() - started


def assert_store_down(response: httpx.Response, took_s: float, what: str) -> None:
    assert response.status_code == 503, (what, response.status_code, response.text)
    assert response.json()["error"] == "dependency_down", (what, response.text)
    assert int(response.headers["Retry-After"]) > 0, what
    assert took_s < ANSWER_WITHIN_S, (what, took_s)


async def test_a_frozen_postgres_gets_fast_503s_while_heartbeats_go_on(
    own_postgres: PostgresServer,
    valkey: ValkeyFixture,
    valkey_admin: Redis,
    system_assets: set[str],
) -> None:
    server = own_postgres
    async with running_hives(server.dsn(), valkey, count=1) as (hive,):
        await register(hive, "node-1")
        spec = job_spec()
        job_id = await create_job(hive, spec)
        layout = " ".join(layout_keys(SYSTEM_ASSETS, spec, "Qwerty"))
        claimed = local_model(SYSTEM_ASSETS, spec).score(layout.split())
        result = {"job_id": job_id, "layout": layout, "score": claimed, "node_id": "node-1"}
        other_spec = job_spec(params={**spec["params"], "search_steps": 51})
        as_node = node_headers("node-1")

        with frozen(server):
            calls = {
                "GET /jobs": hive.get("/jobs"),
                # node-1's token is known to this hive since it registered: no Postgres needed.
                "POST /results": hive.post("/results", json=result, headers=as_node),
                "POST /jobs": hive.post("/jobs", json=other_spec, headers=as_node),
                "GET /jobs/{id}": hive.get(f"/jobs/{job_id}"),
            }
            # All at once: requests that queue for a connection must be bounded too.
            answers = await asyncio.gather(*(timed(call) for call in calls.values()))
            for what, (response, took_s) in zip(calls, answers, strict=True):
                assert_store_down(response, took_s, what)
            for _ in range(3):
                assert (await beat(hive, "node-1")).status_code == 204
            stats, took_s = await timed(hive.get("/cluster/stats"))
            assert stats.status_code == 200, stats.text
            assert stats.json()["nodes_online"] == 1
            assert took_s < ANSWER_WITHIN_S
            # Still frozen a few seconds later: the pool is not wedged, it answers again.
            response, took_s = await timed(hive.get("/jobs"))
            assert_store_down(response, took_s, "GET /jobs again")

        async def recovered() -> bool:
            return (await hive.get("/jobs")).status_code == 200

        await wait_until(recovered, timeout_s=15, interval_s=0.2)
        accepted = await hive.post("/results", json=result, headers=as_node)
        assert accepted.status_code == 200, accepted.text
        created = await hive.post("/jobs", json=other_spec, headers=as_node)
        assert created.status_code == 200, created.text
        nodes = await hive.get("/nodes", headers=ADMIN_HEADERS)
        assert nodes.status_code == 200, nodes.text


async def test_jobs_wait_out_a_valkey_data_loss_with_503_not_422(
    valkey: ValkeyFixture, valkey_admin: Redis, database_url: str, tmp_path: Path
) -> None:
    root = tmp_path / "system"
    shutil.copytree(SYSTEM_ASSETS, root)
    # A slow epoch check leaves a window wide enough to see: the manager notices
    # the loss only at its next check, up to this long after the FLUSHALL.
    settings = manager_settings(
        valkey_url=valkey.url("assetmgr"), assets_dir=root, KEYFORGE_ASSET_EPOCH_CHECK_S=4.0
    )
    async with running_manager(settings), running_hives(database_url, valkey, count=1) as (hive,):
        steps = iter(range(60, 10_000))
        as_node = await member_headers(hive)  # its token outlives the Valkey data loss

        async def post_new_job() -> httpx.Response:
            # A spec never posted before: a known job would be answered without its assets.
            spec = job_spec(params={**job_spec()["params"], "search_steps": next(steps)})
            return await hive.post("/jobs", json=spec, headers=as_node)

        async def published() -> bool:
            return (await post_new_job()).status_code == 200

        await wait_until(published, timeout_s=15, interval_s=0.2)
        await valkey_admin.flushall()
        answers: list[httpx.Response] = []
        deadline = time.monotonic() + 15
        while not answers or answers[-1].status_code != 200:
            assert time.monotonic() < deadline, [r.status_code for r in answers]
            answers.append(await post_new_job())
            await asyncio.sleep(0.1)
        waiting = answers[:-1]
        assert waiting, "the manager re-hydrated before the first request: nothing was tested"
        for response in waiting:
            assert response.status_code == 503, response.text
            assert response.json()["error"] == "assets_recovering"
            assert int(response.headers["Retry-After"]) > 0
