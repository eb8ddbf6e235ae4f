"""Where our clients connect for a URL, and how they prove they reached the right server.

``*.localhost`` does not resolve through this machine's resolver. RFC 6761
lets a client resolve it to loopback itself, as browsers do, so ours connect
to 127.0.0.1 and present the URL's name as ``Host`` and as TLS SNI, and the
certificate is verified for that name (against the stack's dev CA when one
is given). Every other name goes through the system resolver as usual.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx

LOOPBACK = "127.0.0.1"
DEFAULT_PORTS = {"http": 80, "https": 443}


def resolves_to_loopback(host: str) -> bool:
    return host == "localhost" or host.endswith(".localhost")


@dataclass(frozen=True)
class Endpoint:
    """One origin (scheme, host, port) and the CA its certificate is checked against."""

    scheme: str
    host: str
    port: int
    ca_cert: Path | None = None

    @classmethod
    def parse(cls, url: str, ca_cert: Path | None = None) -> Endpoint:
        parts = urlsplit(url.rstrip("/"))
        if parts.scheme not in DEFAULT_PORTS or not parts.hostname:
            raise ValueError(f"{url!r} is not an http:// or https:// URL")
        if parts.path not in ("", "/"):
            raise ValueError(f"{url!r}: give the origin only, without a path")
        return cls(parts.scheme, parts.hostname, parts.port or DEFAULT_PORTS[parts.scheme], ca_cert)

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.host_header}"

    @property
    def tls(self) -> bool:
        return self.scheme == "https"

    @property
    def connect_host(self) -> str:
        return LOOPBACK if resolves_to_loopback(self.host) else self.host

    @property
    def host_header(self) -> str:
        default = DEFAULT_PORTS[self.scheme] == self.port
        return self.host if default else f"{self.host}:{self.port}"

    def ssl_context(self) -> ssl.SSLContext | None:
        if not self.tls:
            return None
        cafile = str(self.ca_cert) if self.ca_cert else None
        return ssl.create_default_context(cafile=cafile)


class _NamedHostTransport(httpx.AsyncBaseTransport):
    """Sends every request to the connect address with the endpoint's name as Host and SNI."""

    def __init__(self, endpoint: Endpoint, inner: httpx.AsyncBaseTransport) -> None:
        self._endpoint = endpoint
        self._inner = inner

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        request.headers["Host"] = self._endpoint.host_header
        if self._endpoint.tls:
            request.extensions["sni_hostname"] = self._endpoint.host
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()


def async_client(
    endpoint: Endpoint, *, timeout_s: float = 10.0, connections: int = 10
) -> httpx.AsyncClient:
    """An httpx client for ``endpoint``: relative paths, loopback names resolved here."""
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    inner = httpx.AsyncHTTPTransport(verify=endpoint.ssl_context() or True, limits=limits)
    return httpx.AsyncClient(
        base_url=f"{endpoint.scheme}://{endpoint.connect_host}:{endpoint.port}",
        transport=_NamedHostTransport(endpoint, inner),
        timeout=timeout_s,
    )
