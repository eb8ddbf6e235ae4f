"""Arrival waves: thousands of nodes register and send their first heartbeat at once
over two hive processes, as after a hive restart, a network blip or a Valkey wipe.

    .venv/bin/python -m bench.burst [--waves 3] [--nodes 5000] [--in-flight 512]

Printed per wave: answers that were not 2xx (target 0), node_status "ready"
events one SSE client received against the transitions made (target equal),
and the p50/p99 of registration and of the first heartbeat.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import time
from collections import Counter
from dataclasses import dataclass, field

from bench.servers import NODE_SECRET, backends, hive_processes
from keyforge_shared.protocol import headers as wire
from keyforge_swarm.fasthttp import FastHttpClient
from keyforge_swarm.report import percentile

SETTLE_S = 30.0  # how long the SSE client may lag behind the last wave


@dataclass
class Wave:
    statuses: Counter[int] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    register_ms: list[float] = field(default_factory=list)
    beat_ms: list[float] = field(default_factory=list)
    refusals: list[str] = field(default_factory=list)
    made_ready: int = 0  # nodes whose first heartbeat was answered 2xx: each is a transition


def registration(node_id: str) -> dict[str, object]:
    return {
        "node_id": node_id,
        "cpu_model": "bench burst",
        "cores": 4,
        "l2_cache_kb": 512,
        "ops_per_sec": 1e6,
    }


async def _call(
    client: FastHttpClient, wave: Wave, path: str, body: object, headers: dict[str, str]
) -> tuple[int, float, bytes]:
    started = time.perf_counter()
    try:
        reply = await client.post_json(path, body, headers)
    except (OSError, EOFError, asyncio.IncompleteReadError, TimeoutError) as exc:
        wave.errors[type(exc).__name__] += 1
        return 0, (time.perf_counter() - started) * 1000, b""
    wave.statuses[reply.status] += 1
    if not 200 <= reply.status < 300 and len(wave.refusals) < 3:
        wave.refusals.append(f"{path} {reply.status} {reply.body[:200]!r}")
    return reply.status, (time.perf_counter() - started) * 1000, reply.body


async def arrive(client: FastHttpClient, wave: Wave, node_id: str, gate: asyncio.Semaphore) -> None:
    """Register, then beat; timed from a free connection, so the p99s are the hives'."""
    async with gate:
        await _arrive(client, wave, node_id)


async def _arrive(client: FastHttpClient, wave: Wave, node_id: str) -> None:
    headers = {wire.NODE_SECRET: NODE_SECRET}
    status, ms, body = await _call(client, wave, "/nodes/register", registration(node_id), headers)
    wave.register_ms.append(ms)
    if status != 200:
        return
    token = json.loads(body).get("node_token")
    if token:
        headers[wire.NODE_TOKEN] = token
    path = f"/nodes/{node_id}/heartbeat"
    status, ms, _ = await _call(client, wave, path, {"ips": 1000.0}, headers)
    wave.beat_ms.append(ms)
    wave.made_ready += 200 <= status < 300


async def listen(port: int, ready: Counter[str], opened: asyncio.Event) -> None:
    """One SSE client: counts each node's "ready" announcements."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"GET /events HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode())
    await reader.readuntil(b"\r\n\r\n")
    opened.set()
    pending = b""
    try:
        while block := await reader.read(65536):
            complete, _, pending = (pending + block).rpartition(b"\n")
            for line in complete.split(b"\n"):
                if line.startswith(b"data: {") and b'"ready"' in line:
                    data = json.loads(line[6:])
                    if data.get("status") == "ready" and "node_id" in data:
                        ready[data["node_id"]] += 1
    finally:
        writer.close()


def _ms(values: list[float], fraction: float) -> float:
    return percentile(sorted(values), fraction) if values else math.nan


async def run(ports: list[int], args: argparse.Namespace) -> None:
    clients = [
        FastHttpClient("127.0.0.1", port, size=args.in_flight // len(ports), timeout_s=60.0)
        for port in ports
    ]
    ready: Counter[str] = Counter()
    opened = asyncio.Event()
    listener = asyncio.create_task(listen(ports[0], ready, opened))
    await asyncio.wait_for(opened.wait(), 30)
    await asyncio.sleep(0.5)
    print(
        f"{args.nodes} nodes per wave over {len(ports)} hives, {args.in_flight} in flight;"
        " register + first heartbeat each"
    )
    print(
        f"{'wave':>4} {'non-2xx':>8} {'no answer':>9} {'ready seen':>10} {'made':>6}"
        f" {'reg p50':>8} {'reg p99':>8} {'hb p50':>8} {'hb p99':>8} {'wall':>6}"
    )
    try:
        for w in range(args.waves):
            wave = Wave()
            ids = [f"burst{w}-{i:05d}" for i in range(args.nodes)]
            started = time.perf_counter()
            gate = asyncio.Semaphore(args.in_flight)
            await asyncio.gather(
                *(arrive(clients[i % len(clients)], wave, n, gate) for i, n in enumerate(ids))
            )
            wall = time.perf_counter() - started
            made = wave.made_ready
            deadline = time.monotonic() + SETTLE_S
            # The listener task fills ``ready``; polled, bounded by SETTLE_S.
            while sum(1 for n in ids if ready[n]) < made and time.monotonic() < deadline:  # noqa: ASYNC110
                await asyncio.sleep(0.2)
            seen = sum(1 for n in ids if ready[n])
            non_2xx = sum(n for code, n in wave.statuses.items() if not 200 <= code < 300)
            print(
                f"{w:>4} {non_2xx:>8} {sum(wave.errors.values()):>9} {seen:>10} {made:>6}"
                f" {_ms(wave.register_ms, 0.5):>6.1f}ms {_ms(wave.register_ms, 0.99):>6.1f}ms"
                f" {_ms(wave.beat_ms, 0.5):>6.1f}ms {_ms(wave.beat_ms, 0.99):>6.1f}ms"
                f" {wall:>5.1f}s"
            )
            if non_2xx or wave.errors:
                print(f"     statuses {dict(wave.statuses)} errors {dict(wave.errors)}")
                print(f"     first refusals: {wave.refusals[:3]}")
    finally:
        listener.cancel()
        for client in clients:
            await client.aclose()
    print("  target: 0 non-2xx, ready seen == made")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--waves", type=int, default=3)
    parser.add_argument("--nodes", type=int, default=5000)
    parser.add_argument("--in-flight", type=int, default=512)
    args = parser.parse_args()
    with backends() as back, hive_processes(back) as ports:
        asyncio.run(run(ports, args))
        logs = (back.workdir / "logs").glob("*.log")
        lost = sum(p.read_text(errors="replace").count("event lost") for p in logs)
        print(f"  'event lost' lines in the hive logs: {lost}")


if __name__ == "__main__":
    main()
