"""Heartbeat requests/s: our hive next to a bare validating endpoint, a naive one-SET
Valkey endpoint and a one-UPDATE Postgres endpoint, all with the same uvicorn
worker count on this machine, loaded by wrk in turn.

    .venv/bin/python -m bench.heartbeat [--seconds 10] [--workers 2] [--connections 64]

Targets (issue 3): ours >= 80 % of bare, and >= 2.5x the Postgres variant.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import sys
from pathlib import Path

from bench.servers import NODE_SECRET, Backends, WrkResult, backends, served, uvicorn_argv, wrk
from keyforge_shared.processes import free_port
from keyforge_shared.protocol import headers as wire
from keyforge_swarm.fasthttp import FastHttpClient

HERE = Path(__file__).resolve().parent
NODES = 1000


async def register_nodes(url: str, known: list[str]) -> list[str]:
    """Register the bench nodes (again, with ``known`` tokens, in later rounds: the
    database persists); their tokens, in node order (each beat carries its own)."""
    host, port = url.removeprefix("http://").split(":")
    client = FastHttpClient(host, int(port), size=16)
    tokens: list[str] = []
    try:
        for start in range(0, NODES, 100):
            replies = await asyncio.gather(
                *(
                    client.post_json(
                        "/nodes/register",
                        {
                            "node_id": f"bench-{i}",
                            "cpu_model": "bench",
                            "cores": 4,
                            "l2_cache_kb": 1024,
                            "ops_per_sec": 1e6,
                        },
                        {wire.NODE_SECRET: NODE_SECRET}
                        | ({wire.NODE_TOKEN: known[i]} if known else {}),
                    )
                    for i in range(start, start + 100)
                )
            )
            assert all(r.status == 200 for r in replies), replies[0]
            if not known:
                tokens += [str(r.json()["node_token"]) for r in replies]
    finally:
        await client.aclose()
    return tokens or known


def write_tokens(path: Path, tokens: list[str]) -> Path:
    path.write_text("".join(t + "\n" for t in tokens))
    return path


def run_variant(name: str, back: Backends, args: argparse.Namespace, known: list[str]) -> WrkResult:
    port = free_port()
    env = back.hive_env(port, args.workers)
    if name == "hive":
        argv = [sys.executable, "-m", "keyforge_hive"]
    else:
        argv = uvicorn_argv(f"bench.heartbeat_variants:{name}_app", port, args.workers)
    logs = back.workdir / "logs"
    with served(name, argv, env, port, logs) as url:
        if name == "hive":
            tokens = asyncio.run(register_nodes(url, known))
            known[:] = tokens
        else:  # the same header bytes on the wire, for a like-for-like comparison
            tokens = [secrets.token_urlsafe(32) for _ in range(NODES)]
        token_file = write_tokens(back.workdir / f"tokens-{name}.txt", tokens)
        wrk_env = {"KF_SECRET": NODE_SECRET, "KF_NODES": str(NODES), "KF_TOKENS": str(token_file)}
        wrk(
            url, HERE / "heartbeat.lua", seconds=2, connections=args.connections, env=wrk_env
        )  # warm-up
        return wrk(
            url,
            HERE / "heartbeat.lua",
            seconds=args.seconds,
            connections=args.connections,
            env=wrk_env,
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    best: dict[str, WrkResult] = {}
    tokens: list[str] = []  # the bench nodes', from the first round's registrations
    with backends() as back:
        for _ in range(args.rounds):
            # Interleaved rounds, best of each: background noise hits all variants alike.
            for name in ("hive", "bare", "naive_valkey", "postgres"):
                result = run_variant(name, back, args, tokens)
                if name not in best or result.requests_per_s > best[name].requests_per_s:
                    best[name] = result
    setup = f"{args.workers} uvicorn workers, wrk -c{args.connections}, {args.seconds}s"
    print(f"heartbeat, {setup}, best of {args.rounds}")
    print(f"{'variant':<14}{'req/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'non-2xx':>9}{'errors':>8}")
    for name, r in best.items():
        print(
            f"{name:<14}{r.requests_per_s:>10.0f}{r.p50_ms:>9.2f}{r.p99_ms:>9.2f}{r.non_2xx:>9}{r.errors:>8}"
        )
    hive = best["hive"].requests_per_s
    print(f"hive / bare         = {hive / best['bare'].requests_per_s:.0%}   (target >= 80%)")
    print(f"hive / naive valkey = {hive / best['naive_valkey'].requests_per_s:.2f}x")
    print(f"hive / postgres     = {hive / best['postgres'].requests_per_s:.2f}x   (target >= 2.5x)")


if __name__ == "__main__":
    main()
