"""The clients against a real local stack (``keyforge up``): nodes, the swarm, status.

Nodes: search quality, a whole-hive outage, secret rotation. The swarm: 500
nodes for 30 s without a failed request. Status: tables and JSON. One stack
for the module (booting one costs more than most tests here); each test
registers its own job and runs its own processes, stopped by PID. Time
bounds are the issue's functional ones (60 s to beat QWERTY by 10 %, a 20 s
outage); nothing here asserts speed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from keyforge_shared.client.endpoints import async_client
from tests.devstack.test_up import keyforge
from tests.node.node_support import (
    LocalStack,
    NodeProcess,
    best_score,
    local_stack,
    ortho_job,
    qwerty_score,
    registered_job,
    start_node,
)
from tests.support import SseEvent, SseReader, wait_until

pytestmark = pytest.mark.stack

OUTAGE_S = 20.0
SUMMARY_KEYS = ["requests", "failed", "by_status", "p50_ms", "p99_ms"]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, kernel_cache: Path) -> Iterator[LocalStack]:
    """The module's stack; its nodes load the session's warm kernels (``kernel_cache``)."""
    yield from local_stack(tmp_path_factory.mktemp("client-stack") / "fleet")


@contextlib.asynccontextmanager
async def running_nodes(
    stack: LocalStack, root: Path, count: int
) -> AsyncIterator[list[NodeProcess]]:
    nodes = [start_node(root / f"node-{i}", "--stack", str(stack.data_dir)) for i in range(count)]
    try:
        yield nodes
    finally:
        codes = [await asyncio.to_thread(n.stop) for n in nodes]
        assert codes == [0] * count, [n.log()[-2000:] for n in nodes]


@contextlib.asynccontextmanager
async def event_log(client: httpx.AsyncClient) -> AsyncIterator[list[SseEvent]]:
    """Every event the hive publishes while the block runs."""
    events: list[SseEvent] = []
    opened = asyncio.Event()

    async def follow() -> None:
        async with client.stream("GET", "/events", timeout=httpx.Timeout(10, read=None)) as stream:
            opened.set()
            reader = SseReader(stream)
            while True:
                events.append(await reader.next_event(timeout_s=3600))

    task = asyncio.create_task(follow())
    try:
        await asyncio.wait_for(opened.wait(), 10)
        yield events
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def results_of(stack: LocalStack, job_id: str) -> set[tuple[str, float]]:
    conn = await asyncpg.connect(stack.info["postgres"]["dsn"])
    try:
        rows = await conn.fetch("SELECT layout, score FROM results WHERE job_id = $1", job_id)
    finally:
        await conn.close()
    return {(r["layout"], r["score"]) for r in rows}


def tamper_cached(state_dir: Path, sha256: str) -> None:
    """A cache file whose bytes no longer match its hash, as disk rot or an intruder leave it."""
    cache = state_dir / "assets"
    cache.mkdir(parents=True)
    (cache / sha256).write_bytes(b"char1,char2,freq\nt,h,999999999999\n")


async def test_two_nodes_beat_qwerty_by_ten_percent_within_a_minute(
    stack: LocalStack, tmp_path: Path
) -> None:
    async with stack.hive() as client, registered_job(client, stack, ortho_job()) as job_id:
        qwerty = await qwerty_score(client, stack.admin_headers, job_id)
        async with async_assets(stack) as assets:
            bigrams = (await assets.get("/manifest")).json()["files"]["corpora/default/2grams.csv"]
        tamper_cached(tmp_path / "node-0", bigrams)
        async with event_log(client) as events, running_nodes(stack, tmp_path, 2) as nodes:
            started = time.monotonic()

            async def ten_percent_better() -> bool:
                best = await best_score(client, job_id)
                return best is not None and best <= 0.9 * qwerty

            await wait_until(ten_percent_better, timeout_s=60, interval_s=0.5)
            took = time.monotonic() - started

            def record_seen() -> bool:
                return any(
                    e.event == "new_record"
                    and e.data["job_id"] == job_id
                    and e.data["score"] <= 0.9 * qwerty
                    for e in events
                )

            await wait_until(_sync(record_seen), timeout_s=10)
            await asyncio.sleep(2)  # a few more improvements, for the report
            best = await best_score(client, job_id)
        view = (await client.get(f"/jobs/{job_id}")).json()
    assert best is not None
    assert view["best_layout"] is not None
    print(
        f"\nQWERTY {qwerty:.1f}; 10 % better after {took:.1f}s; best {best:.1f} "
        f"({1 - best / qwerty:.1%} better) at the end"
    )
    refused = nodes[0].log()
    assert "asset refused: corpora/default/2grams.csv from the cache" in refused
    assert "score_mismatch" not in refused + nodes[1].log()
    assert all(n.accepted_scores() for n in nodes), "both nodes delivered results"


def _sync(check: Any) -> Any:
    async def wrapped() -> bool:
        return bool(check())

    return wrapped


@contextlib.asynccontextmanager
async def async_assets(stack: LocalStack) -> AsyncIterator[httpx.AsyncClient]:
    assets = stack.targets.assets
    assert assets is not None
    async with async_client(assets) as client:
        yield client


def signal_all(pids: list[int], sig: int) -> None:
    for pid in pids:
        os.kill(pid, sig)


async def test_an_outage_of_every_hive_loses_nothing_and_the_nodes_resume_on_their_own(
    stack: LocalStack, tmp_path: Path
) -> None:
    # A geometry no earlier job used (no seeds from their populations) and a slow anneal:
    # the nodes keep finding better layouts all through the outage.
    spec = ortho_job("split_3x6_3", cost_matrix="cost_matrix_split_3x6_3.csv")
    spec["params"].update(search_steps=2_000_000, temp_max=300.0)
    async with (
        stack.hive() as client,
        registered_job(client, stack, spec) as job_id,
        running_nodes(stack, tmp_path, 2) as nodes,
    ):

        async def first_result() -> bool:
            return await best_score(client, job_id) is not None

        await wait_until(first_result, timeout_s=60, interval_s=0.2)
        before = await results_of(stack, job_id)
        pids = stack.hive_pids()
        signal_all(pids, signal.SIGSTOP)
        try:
            await asyncio.sleep(OUTAGE_S)
            found = [p["score"] for n in nodes for p in n.pending() if p["job_id"] == job_id]
        finally:
            signal_all(pids, signal.SIGCONT)
        assert found, "the nodes found nothing better during the outage"
        outage_best = min(found)

        async def delivered() -> bool:
            best = await best_score(client, job_id)
            return best is not None and best <= outage_best + 1e-6

        await wait_until(delivered, timeout_s=60, interval_s=0.5)
        after = await results_of(stack, job_id)
        assert before <= after, "an accepted result went missing"
        assert any(abs(score - outage_best) < 1e-6 for _, score in after)
        assert all(n.process.poll() is None for n in nodes), "a node needed a restart"
        ids = {(n.state_dir / "node-id").read_text().strip() for n in nodes}

        async def beating_again() -> bool:
            # Telemetry from before the outage may have expired with its TTL; the
            # nodes' next beats (after their backoff) bring it back.
            view = (await client.get("/nodes", headers=stack.admin_headers)).json()
            ours = [n for n in view if n["node_id"] in ids]
            return {n["node_id"]: n["status"] for n in ours} == dict.fromkeys(ids, "ready") and all(
                n["ips"] > 0 and n["ops_per_sec"] > 0 for n in ours
            )

        await wait_until(beating_again, timeout_s=30, interval_s=0.5)


async def node_last_seen(
    client: httpx.AsyncClient, stack: LocalStack, node: NodeProcess
) -> datetime:
    node_id = (node.state_dir / "node-id").read_text().strip()
    listed = (await client.get("/nodes", headers=stack.admin_headers)).json()
    return datetime.fromisoformat(next(n["last_seen"] for n in listed if n["node_id"] == node_id))


async def test_a_rotated_secret_reaches_a_running_node_and_a_swarm_without_a_restart(
    stack: LocalStack, tmp_path: Path
) -> None:
    async with (
        stack.hive() as client,
        registered_job(client, stack, ortho_job(pinned_keys="10:KC_A")),
        running_nodes(stack, tmp_path, 1) as (node,),
    ):
        # The node takes its lease first: 50 simulated nodes polling from the start
        # take all of the job's 8 slots while the real node is still calibrating.
        await wait_until(_sync(node.accepted_scores), timeout_s=60, interval_s=0.5)
        swarm = await asyncio.create_subprocess_exec(
            *keyforge_argv(
                "swarm",
                "--stack",
                str(stack.data_dir),
                "--nodes",
                "50",
                "--duration",
                "300",  # stopped by SIGTERM once the rotation is over
                "--json",
                "--id-prefix",
                "rotation",
            ),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )

        try:

            async def swarm_registered() -> bool:
                listed: list[dict[str, Any]] = (
                    await client.get("/nodes", headers=stack.admin_headers)
                ).json()
                count: int = sum(str(n["node_id"]).startswith("rotation-") for n in listed)
                return count == 50

            await wait_until(swarm_registered, timeout_s=60, interval_s=0.5)
            old_secret = stack.node_headers
            rotated = await asyncio.to_thread(
                keyforge, "secret", "rotate", "--data-dir", str(stack.data_dir)
            )
            assert rotated.returncode == 0, rotated.stdout + rotated.stderr
            assert stack.node_headers != old_secret
            refused_at = datetime.now(UTC)
            refused = await client.post("/jobs", json=ortho_job(), headers=old_secret)
            assert refused.status_code == 401

            async def beats_again() -> bool:
                return await node_last_seen(client, stack, node) > refused_at

            await wait_until(beats_again, timeout_s=30, interval_s=0.5)
            assert node.process.poll() is None
            assert "changed; using the new one" in node.log()
        except BaseException:
            swarm.kill()  # a failed test leaves no swarm behind
            await swarm.wait()
            raise
    assert swarm.returncode is None, "the swarm ended before the rotation did"
    swarm.send_signal(signal.SIGTERM)
    out, err = await asyncio.wait_for(swarm.communicate(), 60)
    summary = json.loads(out.decode().strip().splitlines()[-1])
    assert summary["failed"] == 0, (summary, err.decode()[-2000:])


def keyforge_argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "keyforge_cli", *args]


async def test_five_hundred_nodes_for_thirty_seconds_fail_no_request(stack: LocalStack) -> None:
    argv = ["swarm", "--stack", str(stack.data_dir), "--nodes", "500", "--duration", "30", "--json"]
    spec = ortho_job(pinned_keys="0:KC_Q")
    async with stack.hive() as client, registered_job(client, stack, spec):
        run = await asyncio.to_thread(keyforge, *argv, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr[-3000:]
    lines = run.stdout.strip().splitlines()
    assert len(lines) == 1, run.stdout
    summary = json.loads(lines[0])
    assert list(summary) == SUMMARY_KEYS
    assert summary["failed"] == 0
    assert all(200 <= int(code) < 300 for code in summary["by_status"])
    assert sum(summary["by_status"].values()) == summary["requests"]
    # Every node registered and beat at least once; some leased and submitted.
    assert summary["requests"] > 1000
    assert 0 < summary["p50_ms"] <= summary["p99_ms"]
    print(f"\nswarm 500 nodes x 30 s: {summary}, {summary['requests'] / 30:.0f} req/s")


def test_status_shows_the_cluster_nodes_and_jobs(stack: LocalStack) -> None:
    data_dir = str(stack.data_dir)
    registered = keyforge("swarm", "--stack", data_dir, "--nodes", "3", "--duration", "2")
    assert registered.returncode == 0, registered.stdout + registered.stderr
    as_json = keyforge("status", "--stack", data_dir, "--json")
    assert as_json.returncode == 0, as_json.stderr
    status = json.loads(as_json.stdout)
    assert set(status) == {"stats", "nodes", "jobs", "freeze"}
    assert status["stats"]["nodes_online"] >= 3
    listed = {n["node_id"]: n["status"] for n in status["nodes"]}
    assert {listed.get(f"swarm-{i:05d}") for i in range(3)} == {"ready"}
    human = keyforge("status", "--stack", data_dir, "--limit", "500")
    assert human.returncode == 0, human.stderr
    for text in ("cluster", "nodes online", "swarm-00002", "jobs"):
        assert text in human.stdout
    # Without the admin secret the node table is left out, and the output says why.
    hive = stack.targets.hive
    public = keyforge("status", "--hive", hive.url, "--ca-cert", str(hive.ca_cert), "--json")
    assert public.returncode == 0, public.stderr
    assert json.loads(public.stdout)["nodes"] is None


async def test_a_node_compiling_its_kernels_stops_within_seconds_of_sigterm(
    stack: LocalStack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An empty kernel cache: the node's calibration must compile before it can measure.
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path / "empty-numba-cache"))
    monkeypatch.delenv("KEYFORGE_ENGINE", raising=False)
    node = start_node(tmp_path / "node", "--stack", str(stack.data_dir))
    try:
        await wait_until(_sync(lambda: "search: compiled engine" in node.log()), timeout_s=60)
        await asyncio.sleep(1.0)  # calibration is fetching assets or compiling by now
        assert "calibrated:" not in node.log()
        started = time.monotonic()
        code = await asyncio.to_thread(node.stop, 5.0)
        assert code == 0, node.log()[-2000:]
        assert time.monotonic() - started < 5.0
        assert "calibrated:" not in node.log()  # it stopped mid-calibration, not after
    finally:
        if node.process.poll() is None:
            node.process.kill()
            node.process.wait(10)
