"""Run one service's ASGI app under uvicorn, the way every ``keyforge-*`` command does."""

from __future__ import annotations

import ipaddress
import logging
import sys

import uvicorn
from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from keyforge_shared.settings import ServiceSettings, describe_invalid

# A SIGTERM lets in-flight requests finish for this long before the process exits.
GRACEFUL_SHUTDOWN_S = 10


class ProxyTrust(BaseSettings):
    """Which peers may tell a service, through ``X-Forwarded-For``/``-Proto``, who
    the client really is: the ingress proxy's addresses, and nobody else.

    ``KEYFORGE_TRUSTED_PROXIES`` is a comma-separated list of IP addresses or
    networks (``127.0.0.1``, ``172.28.0.0/24``). Empty (the default): the
    headers are ignored and the TCP peer is the client.
    """

    model_config = SettingsConfigDict(extra="ignore", frozen=True)

    trusted_proxies: str = Field(default="", validation_alias="KEYFORGE_TRUSTED_PROXIES")

    @field_validator("trusted_proxies")
    @classmethod
    def _addresses_only(cls, value: str) -> str:
        # "*" would let any client claim any address: refused on purpose.
        for entry in _entries(value):
            ipaddress.ip_network(entry, strict=False)
        return value

    @property
    def networks(self) -> list[str]:
        return _entries(self.trusted_proxies)


def _entries(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


def load_proxy_trust(command: str) -> ProxyTrust:
    try:
        return ProxyTrust()
    except ValidationError as exc:
        print(f"{command}: invalid configuration:\n{describe_invalid(exc)}", file=sys.stderr)
        raise SystemExit(2) from None


def configure_logging(level: str) -> None:
    logging.basicConfig(
        level=level.upper(),
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


def serve(factory: str, *, host: str, port: int, log_level: str, workers: int = 1) -> None:
    """Serve the app that ``factory`` ("module:function") builds from the environment.

    An import path rather than an app object, so ``workers > 1`` can build one
    app per worker process.
    """
    trusted = load_proxy_trust(factory.split(".", maxsplit=1)[0].replace("_", "-")).networks
    # uvicorn exits with status 3 itself when a lifespan fails to start.
    uvicorn.run(
        factory,
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level=log_level,
        log_config=None,  # keep our logging set-up
        access_log=False,
        proxy_headers=bool(trusted),
        forwarded_allow_ips=trusted or None,
        server_header=False,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
        lifespan="on",
    )


def serve_service(factory: str, settings: ServiceSettings) -> None:
    """``serve`` with the listen address, log level and workers of a service's settings."""
    serve(
        factory,
        host=settings.listen_host,
        port=settings.listen_port,
        log_level=settings.log_level,
        workers=settings.workers,
    )
