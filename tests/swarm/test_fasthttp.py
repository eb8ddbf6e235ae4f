"""The swarm's lean HTTP client against a server that closes kept-alive connections.

A real asyncio server on loopback: it answers one request per connection and
then closes it without saying so (no ``Connection: close``), as Apache does
to idle kept-alive connections when a process's threads are all busy.
"""

from __future__ import annotations

import asyncio
import contextlib

from keyforge_swarm.fasthttp import FastHttpClient

REPLY = b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n"


async def test_a_connection_the_server_closed_while_idle_is_not_reused() -> None:
    accepted = 0

    async def one_request_then_close(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        nonlocal accepted
        accepted += 1
        await reader.readuntil(b"\r\n\r\n")
        writer.write(REPLY)
        await writer.drain()
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()

    server = await asyncio.start_server(one_request_then_close, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    client = FastHttpClient("127.0.0.1", port, size=1)
    try:
        for _ in range(3):
            reply = await client.get("/")
            assert reply.status == 204
            await asyncio.sleep(0.05)  # the server's close reaches the idle connection
        assert accepted == 3  # each request after the first on a new connection
    finally:
        await client.aclose()
        server.close()
        await server.wait_closed()
