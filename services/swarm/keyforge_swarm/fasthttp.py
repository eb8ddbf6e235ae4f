"""A small keep-alive HTTP/1.1 client for load: the swarm, benchmarks and load tests.

General clients spend more CPU per request than the server they measure; this
one writes a request and parses ``Content-Length`` replies on a pool of
persistent connections, nothing more (no redirects, no chunked replies).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import ssl
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from keyforge_shared.client.endpoints import Endpoint


@dataclass(frozen=True, slots=True)
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class _Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.last_used = time.monotonic()

    async def roundtrip(self, request: bytes) -> Reply:
        self.writer.write(request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers: dict[str, str] = {}
        for line in lines[1:]:
            if line:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
        if headers.get("transfer-encoding", "").lower() == "chunked":
            raise ValueError("chunked replies are not supported by this client")
        length = int(headers.get("content-length", "0"))
        body = await self.reader.readexactly(length) if length else b""
        return Reply(status, headers, body)

    def closed_by_server(self) -> bool:
        """The server closed this connection while it sat idle (its end of file has been
        read). A server may close kept-alive connections at any time: Apache does when a
        process's threads are all busy, so the client reconnects to another process."""
        return self.reader.at_eof() or self.writer.is_closing()

    def close(self) -> None:
        self.writer.close()


def _answered(exc: BaseException) -> bool:
    """Whether any byte of an answer arrived before the connection failed."""
    return isinstance(exc, asyncio.IncompleteReadError) and bool(exc.partial)


class FastHttpClient:
    """``size`` persistent connections to one origin, shared by every caller."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        size: int = 32,
        host_header: str | None = None,
        tls: ssl.SSLContext | None = None,
        server_hostname: str | None = None,
        timeout_s: float = 30.0,
        max_idle_s: float | None = None,
    ) -> None:
        """``max_idle_s``: reconnect rather than reuse a connection idle this long. Set it
        below the server's keep-alive timeout (Apache's: 5 s; uvicorn's: 30 s), so a request
        never goes out on a connection the server is closing at that very moment."""
        self.host, self.port, self.size = host, port, size
        self.host_header = host_header or f"{host}:{port}"
        self.tls, self.server_hostname = tls, server_hostname
        self.timeout_s = timeout_s
        self.max_idle_s = max_idle_s
        self.resent = 0  # requests sent again after a kept-alive connection closed under them
        self._idle: asyncio.Queue[_Connection | None] = asyncio.Queue()
        for _ in range(size):
            self._idle.put_nowait(None)  # a slot not yet connected

    async def _connect(self) -> _Connection:
        reader, writer = await asyncio.open_connection(
            self.host,
            self.port,
            ssl=self.tls,
            server_hostname=self.server_hostname if self.tls else None,
        )
        return _Connection(reader, writer)

    async def request(
        self,
        method: str,
        path: str,
        *,
        body: bytes = b"",
        headers: Mapping[str, str] | None = None,
    ) -> Reply:
        lines = [f"{method} {path} HTTP/1.1", f"Host: {self.host_header}"]
        if body or method in {"POST", "PUT", "PATCH"}:
            lines.append(f"Content-Length: {len(body)}")
        lines.extend(f"{k}: {v}" for k, v in (headers or {}).items())
        request = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body
        conn = await self._idle.get()
        try:
            if conn is not None and (self._stale(conn) or conn.closed_by_server()):
                conn.close()
                conn = None
            reused = conn is not None
            if conn is None:
                conn = await self._connect()
            async with asyncio.timeout(self.timeout_s):
                try:
                    reply = await conn.roundtrip(request)
                except (asyncio.IncompleteReadError, ConnectionResetError) as exc:
                    if not reused or _answered(exc):
                        raise
                    # A kept-alive connection closed by the server as the request went
                    # out, before any answer (RFC 9112, 9.3.1): sent again once on a new
                    # connection, and counted. Every call of the swarm is safe to repeat.
                    conn.close()
                    conn = await self._connect()
                    self.resent += 1
                    reply = await conn.roundtrip(request)
            conn.last_used = time.monotonic()
            if reply.headers.get("connection", "").lower() == "close":
                conn.close()
                conn = None
            return reply
        except BaseException:
            if conn is not None:
                conn.close()
            conn = None
            raise
        finally:
            self._idle.put_nowait(conn)

    def _stale(self, conn: _Connection) -> bool:
        idle = time.monotonic() - conn.last_used
        return self.max_idle_s is not None and idle > self.max_idle_s

    async def post_json(
        self, path: str, payload: Any, headers: Mapping[str, str] | None = None
    ) -> Reply:
        body = json.dumps(payload, separators=(",", ":")).encode()
        merged = {"Content-Type": "application/json", **(headers or {})}
        return await self.request("POST", path, body=body, headers=merged)

    async def get(self, path: str, headers: Mapping[str, str] | None = None) -> Reply:
        return await self.request("GET", path, headers=headers)

    async def aclose(self) -> None:
        while not self._idle.empty():
            conn = self._idle.get_nowait()
            if conn is not None:
                with contextlib.suppress(OSError):
                    conn.close()


def fast_client(
    endpoint: Endpoint, *, size: int, timeout_s: float = 30.0, max_idle_s: float | None = None
) -> FastHttpClient:
    """A lean keep-alive pool to ``endpoint`` for load (the swarm)."""
    return FastHttpClient(
        endpoint.connect_host,
        endpoint.port,
        size=size,
        host_header=endpoint.host_header,
        tls=endpoint.ssl_context(),
        server_hostname=endpoint.host if endpoint.tls else None,
        timeout_s=timeout_s,
        max_idle_s=max_idle_s,
    )
