"""Asset manager settings."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from keyforge_shared.settings import ServiceSettings


class AssetMgrSettings(ServiceSettings):
    listen_port: int = Field(default=3003, ge=1, le=65535, validation_alias="KEYFORGE_LISTEN_PORT")
    assets_dir: Path = Field(default=Path("data/system"), validation_alias="KEYFORGE_ASSETS_DIR")
