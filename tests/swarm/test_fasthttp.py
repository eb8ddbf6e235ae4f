"""The swarm's lean HTTP client against servers that close kept-alive connections.

Real asyncio servers on loopback that close a connection without saying so
(no ``Connection: close``), as Apache does to kept-alive connections when a
process's threads are all busy: while it sits idle, or as a request arrives.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from keyforge_swarm.fasthttp import FastHttpClient

REPLY = b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n"
Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@contextlib.asynccontextmanager
async def client_of(handler: Handler) -> AsyncIterator[FastHttpClient]:
    """A one-connection client of a loopback server that runs ``handler`` per connection."""
    server = await asyncio.start_server(handler, "127.0.0.1", 0)
    client = FastHttpClient("127.0.0.1", server.sockets[0].getsockname()[1], size=1)
    try:
        yield client
    finally:
        await client.aclose()
        server.close()
        await server.wait_closed()


async def answer_one(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.readuntil(b"\r\n\r\n")
    writer.write(REPLY)
    await writer.drain()


async def test_a_connection_the_server_closed_while_idle_is_not_reused() -> None:
    accepted = 0

    async def one_request_then_close(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        nonlocal accepted
        accepted += 1
        await answer_one(reader, writer)
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()

    async with client_of(one_request_then_close) as client:
        for _ in range(3):
            reply = await client.get("/")
            assert reply.status == 204
            await asyncio.sleep(0.05)  # the server's close reaches the idle connection
        assert accepted == 3  # each request after the first on a new connection


async def test_a_call_on_a_kept_alive_connection_closed_under_it_goes_again_once() -> None:
    connections = 0

    async def answer_once_then_drop_the_next(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        nonlocal connections
        connections += 1
        await answer_one(reader, writer)
        # The next request arrives as the server closes: read, never answered.
        with contextlib.suppress(asyncio.IncompleteReadError):
            await reader.readuntil(b"\r\n\r\n")
        writer.close()

    async with client_of(answer_once_then_drop_the_next) as client:
        assert (await client.get("/")).status == 204
        assert (await client.get("/")).status == 204  # resent on a second connection
        assert client.resent == 1
        assert connections == 2


async def test_a_new_connection_that_fails_is_not_retried() -> None:
    async def never_answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.close()

    async with client_of(never_answer) as client:
        with pytest.raises((asyncio.IncompleteReadError, ConnectionResetError)):
            await client.get("/")
        assert client.resent == 0
