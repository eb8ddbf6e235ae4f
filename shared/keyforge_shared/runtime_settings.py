"""Operational limits an operator can change at run time (one ``settings`` row).

Environment variables seed the row when it is absent; after that the database
wins. :func:`validate_runtime_settings` is the one validation used by the API
and by the writer.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Annotated, Any

import asyncpg
from pydantic import BaseModel, ConfigDict, Field, model_validator

ENV_PREFIX = "KEYFORGE_SETTING_"


class RuntimeSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    heartbeat_ttl_s: Annotated[int, Field(ge=3, le=3600)] = 30
    # Extra time past the TTL before a silent node is declared down: one late
    # beat must not flip a node (Kubernetes raised its 40 s to 50 s for this).
    heartbeat_grace_s: Annotated[int, Field(ge=0, le=3600)] = 10
    profile_lock_window_s: Annotated[int, Field(ge=1, le=30 * 86400)] = 86400
    lease_s: Annotated[int, Field(ge=5, le=86400)] = 300
    result_retention_days: Annotated[int, Field(ge=1, le=3650)] = 90
    backup_retention_days: Annotated[int, Field(ge=1, le=3650)] = 14
    last_seen_flush_s: Annotated[int, Field(ge=10, le=3600)] = 120

    @property
    def heartbeat_interval_s(self) -> float:
        """Nodes beat three times per TTL, so one lost beat never expires them."""
        return self.heartbeat_ttl_s / 3

    @property
    def down_after_s(self) -> int:
        return self.heartbeat_ttl_s + self.heartbeat_grace_s

    @model_validator(mode="after")
    def _interval_fits(self) -> RuntimeSettings:
        if self.last_seen_flush_s < self.heartbeat_ttl_s:
            raise ValueError("last_seen_flush_s must be at least heartbeat_ttl_s")
        return self


def validate_runtime_settings(data: Mapping[str, Any]) -> RuntimeSettings:
    """The one validation of a settings object (raises pydantic.ValidationError)."""
    return RuntimeSettings.model_validate(dict(data))


def settings_from_env(environ: Mapping[str, str] | None = None) -> RuntimeSettings:
    env = os.environ if environ is None else environ
    seeded = {
        name: env[ENV_PREFIX + name.upper()]
        for name in RuntimeSettings.model_fields
        if ENV_PREFIX + name.upper() in env
    }
    return validate_runtime_settings(seeded)


async def load_runtime_settings(pool: asyncpg.Pool, *, actor: str) -> RuntimeSettings:
    """The stored row; seeded from the environment when there is none yet."""
    seed = settings_from_env()
    async with pool.acquire() as conn:
        await conn.execute(
            "INSERT INTO settings (id, data, updated_by) VALUES (1, $1::jsonb, $2)"
            " ON CONFLICT (id) DO NOTHING",
            seed.model_dump(),
            actor,
        )
        stored: dict[str, Any] = await conn.fetchval("SELECT data FROM settings WHERE id = 1")
    # Fields added by newer releases take their defaults until an operator sets them.
    known = {k: v for k, v in stored.items() if k in RuntimeSettings.model_fields}
    return validate_runtime_settings(known)
