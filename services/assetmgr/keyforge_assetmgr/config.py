"""Asset manager settings."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from keyforge_shared.settings import ServiceSettings

MIB = 1024 * 1024


class AssetMgrSettings(ServiceSettings):
    listen_port: int = Field(default=3003, ge=1, le=65535, validation_alias="KEYFORGE_LISTEN_PORT")
    assets_dir: Path = Field(default=Path("data/system"), validation_alias="KEYFORGE_ASSETS_DIR")
    # Any file; structured kinds (JSON) have their own smaller limit below.
    max_file_bytes: int = Field(
        default=256 * MIB, ge=1, validation_alias="KEYFORGE_ASSET_MAX_BYTES"
    )
    max_json_bytes: int = Field(
        default=4 * MIB, ge=1, validation_alias="KEYFORGE_ASSET_MAX_JSON_BYTES"
    )
    # A file modified more recently than this is treated as still being written.
    settle_s: float = Field(default=0.1, ge=0, le=10, validation_alias="KEYFORGE_ASSET_SETTLE_S")
    # Old content stays readable this long after its last reference is gone, so a
    # reader streaming the previous version finishes it.
    gc_grace_s: float = Field(default=300.0, ge=0, validation_alias="KEYFORGE_ASSET_GC_GRACE_S")
    gc_interval_s: float = Field(
        default=30.0, gt=0, validation_alias="KEYFORGE_ASSET_GC_INTERVAL_S"
    )
    # How often the active manager checks that Valkey still holds its data.
    epoch_check_s: float = Field(default=1.0, gt=0, validation_alias="KEYFORGE_ASSET_EPOCH_CHECK_S")
    # The active writer wakes at least every epoch_check_s; this long without one
    # finished iteration (hung on a file, Valkey failing every write) fails --check.
    writer_stall_s: float = Field(
        default=60.0, gt=0, validation_alias="KEYFORGE_ASSET_WRITER_STALL_S"
    )
    lock_ttl_s: float = Field(default=6.0, ge=1, validation_alias="KEYFORGE_ASSET_LOCK_TTL_S")
    standby_poll_s: float = Field(
        default=1.0, gt=0, validation_alias="KEYFORGE_ASSET_STANDBY_POLL_S"
    )
