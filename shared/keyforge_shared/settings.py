"""The settings base every service extends: environment in, validated values out."""

from __future__ import annotations

import ipaddress
import re
import sys
from typing import Literal, TypeVar

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from keyforge_shared.keys import DEFAULT_PREFIX

# Values people paste from examples; a prod service refuses to start on them.
PLACEHOLDER_SECRETS = frozenset({"", "changeme", "change-me", "secret", "password", "keyforge"})
MIN_SECRET_LENGTH = 16
_ORIGIN = re.compile(r"^https?://[a-z0-9.-]+(:[0-9]{1,5})?$", re.I)
_URL_PASSWORD = re.compile(r"(?P<head>[a-z][a-z0-9+.-]*://[^:/@\s]*:)[^@\s]+@", re.I)


def redact(text: str) -> str:
    """Mask the password of every URL in ``text`` (driver errors sometimes quote DSNs)."""
    return _URL_PASSWORD.sub(r"\g<head>***@", text)


class ServiceSettings(BaseSettings):
    """Settings common to hive, assets and assetmgr.

    Environment names are the contract's (``KEYFORGE_*``); the listen address
    defaults to all interfaces because that is what a container needs.
    """

    model_config = SettingsConfigDict(extra="ignore", frozen=True, populate_by_name=True)

    env: Literal["dev", "prod"] = Field(default="prod", validation_alias="KEYFORGE_ENV")
    valkey_url: SecretStr = Field(
        default=SecretStr("redis://127.0.0.1:6379/0"), validation_alias="KEYFORGE_VALKEY_URL"
    )
    valkey_prefix: str = Field(default=DEFAULT_PREFIX, validation_alias="KEYFORGE_VALKEY_PREFIX")
    listen_host: str = Field(default="0.0.0.0", validation_alias="KEYFORGE_LISTEN_HOST")  # noqa: S104
    # Each service's own default port is set by its settings class.
    listen_port: int = Field(default=3000, ge=1, le=65535, validation_alias="KEYFORGE_LISTEN_PORT")
    log_level: Literal["debug", "info", "warning", "error"] = Field(
        default="info", validation_alias="KEYFORGE_LOG_LEVEL"
    )
    workers: int = Field(default=1, ge=1, le=64, validation_alias="KEYFORGE_WORKERS")
    connect_attempts: int = Field(default=20, ge=1, validation_alias="KEYFORGE_CONNECT_ATTEMPTS")
    # Which peers may tell the service, through X-Forwarded-For/-Proto, who the
    # client really is: a comma-separated list of the ingress proxy's addresses
    # or networks ("127.0.0.1", "172.28.0.0/24"). Empty (the default): the
    # headers are ignored and the TCP peer is the client.
    trusted_proxies: str = Field(default="", validation_alias="KEYFORGE_TRUSTED_PROXIES")

    @field_validator("valkey_prefix")
    @classmethod
    def _prefix_is_sane(cls, value: str) -> str:
        if not value or len(value) > 32 or any(c.isspace() or c in "*?[]" for c in value):
            raise ValueError("prefix must be 1-32 characters with no spaces or glob characters")
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _addresses_only(cls, value: str) -> str:
        # "*" would let any client claim any address: refused on purpose.
        for entry in _entries(value):
            ipaddress.ip_network(entry, strict=False)
        return value

    @property
    def trusted_networks(self) -> list[str]:
        return _entries(self.trusted_proxies)


def _entries(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


class ProxiedServiceSettings(ServiceSettings):
    """A service the ingress proxy forwards requests to (hive, assets)."""

    # On SIGTERM the service keeps serving this long, telling the proxy it is not
    # ready and closing each connection after its response, before it stops (see
    # keyforge_shared.shutdown). Longer than the proxy's health-check interval
    # (1 s) and its pooled-connection ttl (2 s) in infra/apache/vhosts.conf.
    drain_s: float = Field(default=3.0, ge=0, le=60, validation_alias="KEYFORGE_DRAIN_S")
    domain: str = Field(default="keyforge.localhost", validation_alias="KEYFORGE_DOMAIN")
    # The one origin browsers may read answers from (the front end at
    # keyforge.<domain>). Empty: https://<domain>, right behind the standard
    # port; a fleet whose public https port is another sets it with the port.
    web_origin: str = Field(default="", validation_alias="KEYFORGE_WEB_ORIGIN")

    @field_validator("web_origin")
    @classmethod
    def _is_an_origin(cls, value: str) -> str:
        if value and not _ORIGIN.match(value):
            raise ValueError("must be an origin: scheme://host[:port], no path")
        return value

    @property
    def cors_origin(self) -> str:
        return self.web_origin or f"https://{self.domain}"


def require_real_secret(name: str, value: SecretStr | None, env: str) -> None:
    """Refuse a missing or placeholder secret outside dev mode."""
    if env == "dev":
        return
    if value is None:
        raise ValueError(f"{name} is required unless KEYFORGE_ENV=dev")
    raw = value.get_secret_value()
    if raw.lower() in PLACEHOLDER_SECRETS or len(raw) < MIN_SECRET_LENGTH:
        raise ValueError(f"{name} must be a real secret of at least {MIN_SECRET_LENGTH} characters")


def describe_invalid(exc: ValidationError) -> str:
    """A configuration error, naming each field but never echoing its value."""
    lines = []
    for err in exc.errors(include_input=False, include_url=False):
        where = ".".join(str(p) for p in err["loc"]) or "settings"
        lines.append(f"  {where}: {err['msg']}")
    return "\n".join(lines)


S = TypeVar("S", bound=ServiceSettings)


def load_settings(cls: type[S], command: str) -> S:
    """Build a service's settings or exit 2 with a message fit for a log line."""
    try:
        return cls()
    except ValidationError as exc:
        print(f"{command}: invalid configuration:\n{describe_invalid(exc)}", file=sys.stderr)
        raise SystemExit(2) from None
