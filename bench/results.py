"""Result verification on a real hive: latency of POST /results and /score with the job's
scorer cached, next to what building that scorer costs (the price of a cache miss).

    .venv/bin/python -m bench.results [--requests 300] [--concurrency 16]

One hive process (one worker) on real Valkey and Postgres, the project's
data/system published as assetmgr would. Sequential requests give latency;
concurrent ones give accepted results per second (each one rescored off the
event loop and committed before its answer). Prints numbers only.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import time
from pathlib import Path

import httpx

from bench.servers import NODE_SECRET, Backends, backends, served
from keyforge_assetmgr.config import AssetMgrSettings
from keyforge_assetmgr.lock import new_token, release, try_acquire
from keyforge_assetmgr.publisher import Publisher
from keyforge_assetmgr.store import AssetStore
from keyforge_shared import formats
from keyforge_shared.connect import connect_valkey
from keyforge_shared.job_scorer import build_job_scorer, job_inputs
from keyforge_shared.keys import Keys
from keyforge_shared.processes import free_port
from keyforge_shared.protocol import headers as wire
from keyforge_shared.scoring import load_corpus

SYSTEM = Path(__file__).resolve().parents[1] / "data" / "system"
HEADERS = {wire.NODE_SECRET: NODE_SECRET}
PARAMS = {"search_epochs": 1, "search_steps": 1, "search_patience": 1,
          "search_patience_threshold": 0.1, "temp_min": 0.1, "temp_max": 1.0,
          "opt_limit_fast": 1, "opt_limit_slow": 1}  # fmt: skip


async def publish(back: Backends) -> None:
    url = back.valkey_url("assetmgr")
    settings = AssetMgrSettings.model_validate(
        {"KEYFORGE_VALKEY_URL": url, "KEYFORGE_ASSETS_DIR": str(SYSTEM)}
    )
    client = await connect_valkey(url, client_name="bench-publisher", attempts=3)
    token = new_token()
    try:
        assert await try_acquire(client, Keys(), token, ttl_s=60)
        await Publisher(settings, AssetStore(client, Keys(), token)).hydrate()
        await release(client, Keys(), token)
    finally:
        await client.aclose()


def spec(board: str, weight: float) -> dict[str, object]:
    definition = json.loads((SYSTEM / "keyboards" / f"{board}.json").read_text())
    return {"definition": definition, "weights": {"penalty_sfb_base": weight},
            "params": PARAMS, "pinned_keys": "", "corpus_name": "default",
            "cost_matrix": "cost_matrix.csv"}  # fmt: skip


def build_ms(job: dict[str, object], rounds: int = 5) -> float:
    """What a cache miss costs: parse the corpus and compile the model, in this process."""
    keycodes = formats.parse_keycodes((SYSTEM / "keycodes.json").read_bytes())
    matrix = formats.parse_cost_matrix((SYSTEM / "cost_matrix.csv").read_bytes())
    folder = SYSTEM / "corpora" / "default"
    raw = [(folder / f"{n}grams.csv").read_bytes() for n in (1, 2, 3)]
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        build_job_scorer(job_inputs(job), load_corpus(*raw), matrix, keycodes, {})
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1e3


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def timed(client: httpx.AsyncClient, path: str, body: dict[str, object]) -> float:
    started = time.perf_counter()
    response = await client.post(path, json=body, headers=HEADERS)
    elapsed = time.perf_counter() - started
    assert response.status_code == 200, response.text
    return elapsed * 1e3


async def measure(url: str, args: argparse.Namespace) -> None:
    async with httpx.AsyncClient(base_url=url, timeout=60) as client:
        registration = [await timed(client, "/jobs", spec("ortho_30", 300.0 + i)) for i in range(5)]
        job = spec("ortho_30", 400.0)
        job_id = (await client.post("/jobs", json=job, headers=HEADERS)).json()["job_id"]
        qwerty = job["definition"]["layouts"]["Qwerty"].split()  # type: ignore[index]
        true = (await client.post("/score", json={"job_id": job_id, "layout": " ".join(qwerty)},
                                  headers=HEADERS)).json()["score"]  # fmt: skip
        rng = random.Random(1)

        def result() -> dict[str, object]:
            layout = list(qwerty)
            rng.shuffle(layout)
            # The claim need not be right for timing: within 5.0 of the truth is refused as
            # a mismatch only after rescoring, so send the rescored score via /score first.
            return {"job_id": job_id, "layout": " ".join(layout), "node_id": "bench"}

        score_ms = [
            await timed(client, "/score", {"job_id": job_id, "layout": " ".join(qwerty)})
            for _ in range(args.requests)
        ]
        bodies = []
        for _ in range(args.requests + args.concurrency * 20):
            body = result()
            answer = await client.post("/score", json=body, headers=HEADERS)
            bodies.append({**body, "score": answer.json()["score"]})
        result_ms = [await timed(client, "/results", b) for b in bodies[: args.requests]]
        rest = bodies[args.requests :]
        started = time.perf_counter()
        for start in range(0, len(rest), args.concurrency):
            await asyncio.gather(
                *(timed(client, "/results", b) for b in rest[start : start + args.concurrency])
            )
        rate = len(rest) / (time.perf_counter() - started)
    cold = build_ms(job)
    print(f"reference score {true:.1f}")
    print(f"POST /jobs (builds the scorer):   p50 {statistics.median(registration):7.2f} ms")
    print(f"scorer build in-process (miss):   p50 {cold:7.2f} ms")
    print(f"POST /score   (scorer cached):    p50 {statistics.median(score_ms):7.2f} ms"
          f"  p99 {percentile(score_ms, 0.99):7.2f} ms")  # fmt: skip
    print(f"POST /results (cached, committed): p50 {statistics.median(result_ms):7.2f} ms"
          f"  p99 {percentile(result_ms, 0.99):7.2f} ms")  # fmt: skip
    print(f"POST /results, {args.concurrency} concurrent: {rate:7.0f} accepted/s")
    print(f"cache miss / cached /results p50: {cold / statistics.median(result_ms):5.1f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    with backends() as back:
        asyncio.run(publish(back))
        port = free_port()
        env = back.hive_env(port, workers=1)
        argv = [sys.executable, "-m", "keyforge_hive"]
        with served("hive", argv, env, port, back.workdir / "logs") as url:
            asyncio.run(measure(url, args))


if __name__ == "__main__":
    main()
