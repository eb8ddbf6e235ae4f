"""The load side of ``bench/assets.py``: bounded keep-alive request loops, or ``wrk``.

A loop sends one request per connection at a time and reads each answer
whole (Content-Length), reconnecting when a server closes (http.server
does). ``wrk`` runs one thread so the server under test keeps the other core.
"""

from __future__ import annotations

import asyncio
import subprocess
from collections import Counter
from dataclasses import dataclass, field


@dataclass
class Tally:
    requests: int = 0
    body_bytes: int = 0
    statuses: Counter[int] = field(default_factory=Counter)


async def one_connection(port: int, request: bytes, deadline: float, tally: Tally) -> None:
    """Requests one after another; reconnects when the server closes (http.server does)."""
    loop = asyncio.get_running_loop()
    while loop.time() < deadline:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while loop.time() < deadline:
                writer.write(request)
                head = (await reader.readuntil(b"\r\n\r\n")).lower()
                start = head.find(b"\r\ncontent-length:")
                end = head.find(b"\r\n", start + 2)
                length = int(head[start + 17 : end]) if start >= 0 else 0
                await reader.readexactly(length)
                tally.requests += 1
                tally.body_bytes += length
                tally.statuses[int(head[9:12])] += 1
        except (asyncio.IncompleteReadError, ConnectionResetError):
            continue
        finally:
            writer.close()


@dataclass(frozen=True)
class Load:
    tool: str  # "wrk" or "python"
    seconds: float
    connections: int


async def measure(load: Load, port: int, path: str, extra: str = "") -> tuple[float, float, Tally]:
    """(requests/s, MB/s, tally) over ``load.seconds`` of keep-alive request loops."""
    seconds, connections = load.seconds, load.connections
    if load.tool == "wrk":
        return await measure_with_wrk(port, path, seconds, connections, extra)
    request = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{extra}\r\n".encode()
    tally = Tally()
    loop = asyncio.get_running_loop()
    started = loop.time()
    deadline = started + seconds
    await asyncio.gather(
        *(one_connection(port, request, deadline, tally) for _ in range(connections))
    )
    elapsed = loop.time() - started
    return tally.requests / elapsed, tally.body_bytes / elapsed / 1e6, tally


async def measure_with_wrk(
    port: int, path: str, seconds: float, connections: int, extra: str
) -> tuple[float, float, Tally]:
    """The same with ``wrk`` (one thread, so the server under test keeps the other core)."""
    duration = max(1, round(seconds))  # wrk takes whole seconds
    argv = ["wrk", "-t1", f"-c{connections}", f"-d{duration}s", f"http://127.0.0.1:{port}{path}"]
    if extra:
        argv += ["-H", extra.strip()]
    done = await asyncio.to_thread(
        subprocess.run, argv, capture_output=True, text=True, check=True, timeout=seconds + 30
    )
    report = done.stdout
    rate = float(report.split("Requests/sec:")[1].split()[0])
    requests = int(report.split(" requests in ")[0].split()[-1])
    tally = Tally(requests=requests)
    failed = (
        int(report.split("Non-2xx or 3xx responses:")[1].split()[0]) if "Non-2xx" in report else 0
    )
    status = 304 if "If-None-Match" in extra else 200
    tally.statuses[status] = requests - failed
    if failed:
        tally.statuses[0] = failed
    length = int(path.rsplit("/", 1)[1].split(".", maxsplit=1)[0]) if status == 200 else 0
    return rate, rate * length / 1e6, tally
