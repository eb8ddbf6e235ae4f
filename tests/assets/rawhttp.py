"""Requests sent byte for byte, so hostile paths reach the server exactly as written
(HTTP clients normalise dot segments and re-encode what they are given)."""

from __future__ import annotations

import asyncio


async def raw_status(port: int, target: bytes, method: bytes = b"GET") -> int:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(
            method + b" " + target + b" HTTP/1.1\r\nHost: assets\r\nConnection: close\r\n\r\n"
        )
        await writer.drain()
        status_line = await asyncio.wait_for(reader.readline(), 10)
        await asyncio.wait_for(reader.read(), 10)
    finally:
        writer.close()
    if not status_line:
        return 0  # the server closed without answering: never a 2xx
    return int(status_line.split()[1])
