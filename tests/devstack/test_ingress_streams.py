"""Apache holds hundreds of /events streams and still answers everything else.

Each proxied stream holds one Apache thread for its whole life; with the old
256 threads, 400 streams took the ingress down (issue 12). Clients connect
from distinct loopback addresses (127.0.0.2, .3, ...), at the hive's default
per-address cap each, as browsers from many homes do; the hives learn each
address from Apache's X-Forwarded-For.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import ssl
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from keyforge_shared.protocol.settings import RuntimeSettings
from tests.devstack.ingress_support import Stack, running_stack

STREAMS = 600
PER_ADDRESS = RuntimeSettings().sse_streams_per_address


@dataclass
class Opened:
    status: int
    headers: dict[str, str]
    body: bytes
    writer: asyncio.StreamWriter


async def open_events(stack: Stack, address: str, tls: ssl.SSLContext) -> Opened:
    """``GET /events`` on api. from ``address``; a 200 is left open, anything else read whole."""
    host = stack.host("api")
    reader, writer = await asyncio.open_connection(
        "127.0.0.1", stack.https_port, ssl=tls, server_hostname=host, local_addr=(address, 0)
    )
    writer.write(f"GET /events HTTP/1.1\r\nHost: {host}:{stack.https_port}\r\n\r\n".encode())
    async with asyncio.timeout(30):
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        headers = {
            name.lower(): value.strip()
            for name, _, value in (line.partition(":") for line in head[1:] if line)
        }
        status = int(head[0].split()[1])
        if status == 200:
            body = await reader.readuntil(b"\n\n")  # "retry:" (chunked): the hive holds it
        else:
            body = await reader.readexactly(int(headers["content-length"]))
    return Opened(status, headers, body, writer)


@contextlib.asynccontextmanager
async def streams_held(stack: Stack, count: int) -> AsyncIterator[list[Opened]]:
    tls = stack.tls()
    opened: list[Opened] = []
    try:
        for start in range(0, count, 100):  # in bursts, as a crowd of browsers arrives
            batch = range(start, min(start + 100, count))
            addresses = [f"127.0.0.{2 + i // PER_ADDRESS}" for i in batch]
            opened += await asyncio.gather(*(open_events(stack, a, tls) for a in addresses))
        yield opened
    finally:
        for stream in opened:
            stream.writer.close()


def answers_from_every_host(stack: Stack, rounds: int) -> list[int]:
    statuses = []
    for _ in range(rounds):
        statuses.append(stack.get("api", "/health").status_code)
        statuses.append(stack.get("assets", "/health").status_code)
        statuses.append(stack.get("", "/").status_code)
    return statuses


async def test_600_streams_while_api_assets_and_page_answer(tmp_path: Path) -> None:
    with running_stack(tmp_path / "fleet") as stack:
        async with streams_held(stack, STREAMS) as opened:
            assert [s.status for s in opened] == [200] * STREAMS
            assert all(b"retry:" in s.body for s in opened)  # in its first chunk
            statuses = await asyncio.to_thread(answers_from_every_host, stack, 5)
            assert statuses == [200] * 15

            # One stream past the cap of 127.0.0.2 is refused, in the envelope.
            refused = await open_events(stack, "127.0.0.2", stack.tls())
            refused.writer.close()
            assert refused.status == 429
            assert refused.headers["retry-after"].isdigit()
            assert json.loads(refused.body)["error"] == "too_many_streams"

            # Its streams end: the address gets its slots back once Apache notices,
            # at its next write to them (the hive's keepalive comment, every 15 s).
            for stream in opened[:PER_ADDRESS]:
                stream.writer.close()
            for _ in range(130):  # two keepalive periods (Apache, then the hive) and slack
                again = await open_events(stack, "127.0.0.2", stack.tls())
                again.writer.close()
                if again.status == 200:
                    break
                await asyncio.sleep(0.5)
            assert again.status == 200


def upstreams_of(stack: Stack, path: str) -> Counter[str]:
    """Which hive Apache sent each request for ``path`` to, from its access log."""
    log = (stack.data_dir / "logs" / "apache-access.log").read_text()
    return Counter(
        line.rsplit("upstream=", 1)[1]
        for line in log.splitlines()
        if f'"GET {path} HTTP/1.1"' in line
    )


async def test_calls_spread_over_hives_whatever_streams_they_hold(tmp_path: Path) -> None:
    # 21 streams: one hive holds 11, the other 10. When streams and calls shared a
    # balancer choosing by requests in flight, every call went to the one holding 10.
    with running_stack(tmp_path / "fleet") as stack:
        async with streams_held(stack, 21) as opened:
            assert [s.status for s in opened] == [200] * 21
            before = upstreams_of(stack, "/health")
            for _ in range(20):
                assert (await asyncio.to_thread(stack.get, "api", "/health")).status_code == 200
            calls = upstreams_of(stack, "/health") - before
    assert sorted(calls) == sorted(stack.info["hives"]), calls
    assert min(calls.values()) >= 5, calls
