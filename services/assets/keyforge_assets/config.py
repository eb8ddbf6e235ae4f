"""Asset gateway settings."""

from __future__ import annotations

from pydantic import Field

from keyforge_shared.settings import ProxiedServiceSettings

MIB = 1024 * 1024


class AssetsSettings(ProxiedServiceSettings):
    listen_port: int = Field(default=3001, ge=1, le=65535, validation_alias="KEYFORGE_LISTEN_PORT")
    # Content never changes under its hash, so cached bytes are never stale; the
    # bound only trades memory for Valkey round trips.
    blob_cache_bytes: int = Field(
        default=128 * MIB, ge=0, validation_alias="KEYFORGE_ASSETS_CACHE_BYTES"
    )
    # Larger contents are streamed chunk by chunk and never held whole.
    blob_cache_item_bytes: int = Field(
        default=8 * MIB, ge=0, validation_alias="KEYFORGE_ASSETS_CACHE_ITEM_BYTES"
    )
    # The manifest cache is refreshed on every asset_update event; this poll of
    # two small keys is the backstop (missed events, Valkey data loss).
    manifest_poll_s: float = Field(
        default=0.25, gt=0, le=5, validation_alias="KEYFORGE_ASSETS_MANIFEST_POLL_S"
    )
