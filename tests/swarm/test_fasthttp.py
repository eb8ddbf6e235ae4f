"""The swarm's lean HTTP client against servers that close kept-alive connections.

Real asyncio servers on loopback that close a connection without saying so
(no ``Connection: close``), as Apache does to kept-alive connections when a
process's threads are all busy: while it sits idle, or as a request arrives.
"""

from __future__ import annotations

import asyncio
import contextlib

import pytest

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


async def test_a_call_on_a_kept_alive_connection_closed_under_it_goes_again_once() -> None:
    connections = 0

    async def answer_once_then_drop_the_next(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        nonlocal connections
        connections += 1
        await reader.readuntil(b"\r\n\r\n")
        writer.write(REPLY)
        await writer.drain()
        # The next request arrives as the server closes: read, never answered.
        with contextlib.suppress(asyncio.IncompleteReadError):
            await reader.readuntil(b"\r\n\r\n")
        writer.close()

    server = await asyncio.start_server(answer_once_then_drop_the_next, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    client = FastHttpClient("127.0.0.1", port, size=1)
    try:
        assert (await client.get("/")).status == 204
        assert (await client.get("/")).status == 204  # resent on a second connection
        assert client.resent == 1
        assert connections == 2
    finally:
        await client.aclose()
        server.close()
        await server.wait_closed()


async def test_a_new_connection_that_fails_is_not_retried() -> None:
    async def never_answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.close()

    server = await asyncio.start_server(never_answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    client = FastHttpClient("127.0.0.1", port, size=1)
    try:
        with pytest.raises((asyncio.IncompleteReadError, ConnectionResetError)):
            await client.get("/")
        assert client.resent == 0
    finally:
        await client.aclose()
        server.close()
        await server.wait_closed()
