"""What one gateway process holds: settings, its read-only Valkey client and its caches."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request
from redis.asyncio import Redis

from keyforge_assets.blob_cache import BlobCache
from keyforge_assets.config import AssetsSettings
from keyforge_assets.manifest_cache import ManifestCache
from keyforge_shared.keys import Keys
from keyforge_shared.live_settings import RuntimeView


@dataclass(frozen=True, slots=True)
class Gateway:
    settings: AssetsSettings
    keys: Keys
    valkey: Redis
    manifest: ManifestCache
    blobs: BlobCache
    runtime: RuntimeView  # the fleet's runtime settings, followed live


def gateway_of(request: Request) -> Gateway:
    gateway: Gateway = request.app.state.gateway
    return gateway
