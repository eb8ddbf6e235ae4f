"""Event fan-out under load: SSE clients spread over two hive processes, a steady
stream of events, and what every client saw: publish-to-client latency and losses.

    .venv/bin/python -m bench.events [--clients 1000] [--rate 20] [--seconds 30]

Targets (issue 3): p99 < 100 ms and 0 events lost with 1 000 clients at 20 events/s.
Clients run in two separate processes so the load generator is not the bottleneck.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import ssl
import statistics
import time
from dataclasses import dataclass

import psutil
from redis.asyncio import Redis

from bench.servers import Backends, backends, hive_processes
from keyforge_shared.events import EventType, publish_update
from keyforge_shared.keys import Keys
from keyforge_swarm.fasthttp import FastHttpClient

CLIENT_PROCESSES = 2
# What a live dashboard mostly receives: a record found. (A job_status or node_status
# event would also wake the hives' waiting lease polls, which a steady stream of them
# in a real fleet does not: new jobs and arriving nodes are rare next to records.)
BENCH_EVENT: EventType = "new_record"


@dataclass
class ClientResult:
    latencies_ms: list[float]
    received: list[int]


async def sse_client(
    port: int,
    stop_at: float,
    latencies: list[float],
    *,
    host_header: str = "",
    tls: ssl.SSLContext | None = None,
    local_addr: str | None = None,
) -> int:
    """Counts events and their latency; reads big blocks and looks only at ``data:`` lines
    (chunked-encoding size lines are skipped as they are not ``data:``). With ``tls``
    the name in ``host_header`` is also the SNI; ``local_addr`` is the client's address."""
    host = host_header or f"127.0.0.1:{port}"
    reader, writer = await asyncio.open_connection(
        "127.0.0.1",
        port,
        ssl=tls,
        server_hostname=host.partition(":")[0] if tls else None,
        local_addr=(local_addr, 0) if local_addr else None,
    )
    writer.write(f"GET /events HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
    head = await reader.readuntil(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 200"):
        writer.close()
        raise ConnectionError(head.split(b"\r\n", 1)[0].decode())
    received = 0
    pending = b""
    try:
        # One deadline for the whole stream: a timeout per read would cost a task each.
        async with asyncio.timeout(stop_at - time.time()):
            while block := await reader.read(65536):
                now = time.time()
                complete, _, pending = (pending + block).rpartition(b"\n")
                for line in complete.split(b"\n"):
                    # Only the publish time is needed: slice it out rather than parse
                    # JSON, so the clients cost less CPU than the hives they measure.
                    at = line.find(b'"t":')
                    if at >= 0 and line.startswith(b"data: "):
                        end = line.find(b"}", at)
                        latencies.append((now - float(line[at + 4 : end])) * 1000)
                        received += 1
                    elif line.startswith(b'data: {"done"'):
                        return received
    except (TimeoutError, ConnectionError):
        pass
    finally:
        writer.close()
    return received


async def _run_clients(ports: list[int], count: int, stop_at: float) -> ClientResult:
    latencies: list[float] = []
    tasks = [
        asyncio.create_task(sse_client(ports[i % len(ports)], stop_at, latencies))
        for i in range(count)
    ]
    received = await asyncio.gather(*tasks)
    return ClientResult(latencies, list(received))


def _client_process(
    ports: list[int],
    count: int,
    stop_at: float,
    out: multiprocessing.Queue[tuple[list[float], list[int], float]],
) -> None:
    result = asyncio.run(_run_clients(ports, count, stop_at))
    out.put((result.latencies_ms, result.received, time.process_time()))


async def _connected_clients(ports: list[int]) -> int:
    total = 0
    for port in ports:
        client = FastHttpClient("127.0.0.1", port, size=1)
        try:
            text = (await client.get("/metrics")).body.decode()
        finally:
            await client.aclose()
        for line in text.splitlines():
            if line.startswith("keyforge_sse_clients "):
                total += int(line.split()[1])
    return total


async def _publish(back: Backends, ports: list[int], args: argparse.Namespace) -> int:
    valkey = Redis.from_url(back.valkey_url("hive"))
    keys = Keys()
    deadline = time.monotonic() + 60
    while await _connected_clients(ports) < args.clients:
        if time.monotonic() > deadline:
            raise SystemExit("not every SSE client connected within 60 s")
        await asyncio.sleep(0.2)
    published = 0
    interval = 1 / args.rate
    next_at = time.monotonic()
    for seq in range(args.rate * args.seconds):
        # "t" last: the clients slice it out of the JSON up to the closing brace.
        await publish_update(valkey, keys, BENCH_EVENT, {"seq": seq, "t": time.time()})
        published += 1
        next_at += interval
        await asyncio.sleep(max(0.0, next_at - time.monotonic()))
    await publish_update(valkey, keys, BENCH_EVENT, {"done": True})
    await valkey.aclose()
    return published


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--rate", type=int, default=20, help="events per second")
    parser.add_argument("--seconds", type=int, default=30)
    args = parser.parse_args()
    with backends() as back, hive_processes(back) as ports:
        stop_at = time.time() + args.seconds + 65
        ctx = multiprocessing.get_context("spawn")
        out = ctx.Queue()
        share = args.clients // CLIENT_PROCESSES
        workers = [
            ctx.Process(target=_client_process, args=(ports, share, stop_at, out))
            for _ in range(CLIENT_PROCESSES)
        ]
        for worker in workers:
            worker.start()
        hives = [
            p
            for p in psutil.Process().children(recursive=True)
            if "keyforge_hive" in " ".join(p.cmdline())
        ]
        cpu_before = sum(sum(p.cpu_times()[:2]) for p in hives)
        published = asyncio.run(_publish(back, ports, args))
        hive_cpu_s = sum(sum(p.cpu_times()[:2]) for p in hives) - cpu_before
        latencies: list[float] = []
        received: list[int] = []
        client_cpu_s = 0.0
        for _ in workers:
            lat, got, cpu_s = out.get(timeout=args.seconds + 120)
            latencies += lat
            received += got
            client_cpu_s += cpu_s
        for worker in workers:
            worker.join()
    latencies.sort()
    p99 = latencies[int(len(latencies) * 0.99)] if latencies else float("nan")
    expected = published * len(received)
    print(f"{len(received)} SSE clients over 2 hives, {args.rate} events/s for {args.seconds}s")
    print(f"  deliveries {len(latencies)} of {expected}; lost {expected - len(latencies)}")
    per_delivery_us = hive_cpu_s / max(1, len(latencies)) * 1e6
    print(
        f"  hive CPU {hive_cpu_s:.1f} s in all, {per_delivery_us:.1f} us per delivery;"
        f" client processes {client_cpu_s:.1f} s"
    )
    print(
        f"  publish -> client latency p50 {statistics.median(latencies):.1f} ms, p99 {p99:.1f} ms"
        "   (target p99 < 100 ms, 0 lost)"
    )


if __name__ == "__main__":
    main()
