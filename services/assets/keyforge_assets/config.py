"""Asset gateway settings."""

from __future__ import annotations

from pydantic import Field

from keyforge_shared.settings import ServiceSettings


class AssetsSettings(ServiceSettings):
    listen_port: int = Field(default=3001, ge=1, le=65535, validation_alias="KEYFORGE_LISTEN_PORT")
