"""Operational limits an operator can change at run time (one ``settings`` row).

Environment variables seed the row when it is absent; after that the database
wins. :func:`validate_runtime_settings` is the one validation, used by the API
and by the writer (:func:`store_runtime_settings`).

Every stored version carries a ``version``: the row's ``updated_at`` in
microseconds since the epoch, made strictly increasing by the writer, so
every process can tell a newer announcement from a late, older one.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

import asyncpg
from asyncpg.pool import PoolConnectionProxy
from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator

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
    # POST /results refuses a claimed score further than this from the hive's
    # own. Scores are about 1e6 and deterministic to the last bit on every
    # machine, so a claim further off was computed with other inputs or made up.
    score_tolerance: Annotated[float, Field(ge=0, le=1e9, allow_inf_nan=False)] = 5.0

    @property
    def heartbeat_interval_s(self) -> float:
        """Nodes beat three times per TTL, so one lost beat never expires them."""
        return self.heartbeat_ttl_s / 3

    @property
    def down_after_s(self) -> int:
        return self.heartbeat_ttl_s + self.heartbeat_grace_s

    # A field validator rather than a model one, so the error names the field.
    @field_validator("last_seen_flush_s")
    @classmethod
    def _flush_not_faster_than_ttl(cls, value: int, info: ValidationInfo) -> int:
        ttl = info.data.get("heartbeat_ttl_s")
        if ttl is not None and value < ttl:
            raise ValueError(f"must be at least heartbeat_ttl_s ({ttl})")
        return value


def validate_runtime_settings(
    data: Mapping[str, Any], *, complete: bool = False
) -> RuntimeSettings:
    """The one validation of a settings object (raises pydantic.ValidationError).

    ``complete`` is the API's full replace: every field must be present, so a
    client that meant to patch one field cannot silently reset the others.
    """
    if complete:
        missing = [name for name in RuntimeSettings.model_fields if name not in data]
        if missing:
            raise ValidationError.from_exception_data(
                "RuntimeSettings",
                [{"type": "missing", "loc": (name,), "input": None} for name in missing],
            )
    return RuntimeSettings.model_validate(dict(data))


def settings_from_env(environ: Mapping[str, str] | None = None) -> RuntimeSettings:
    env = os.environ if environ is None else environ
    seeded = {
        name: env[ENV_PREFIX + name.upper()]
        for name in RuntimeSettings.model_fields
        if ENV_PREFIX + name.upper() in env
    }
    return validate_runtime_settings(seeded)


@dataclass(frozen=True, slots=True)
class StoredSettings:
    settings: RuntimeSettings
    version: int
    updated_at: datetime
    updated_by: str


class SettingsConflict(Exception):
    """The row changed since the version the writer read (optimistic concurrency)."""

    def __init__(self, current: int) -> None:
        super().__init__(f"settings changed meanwhile; current version is {current}")
        self.current = current


_SEED = """
INSERT INTO settings (id, data, updated_by) VALUES (1, $1::jsonb, $2)
ON CONFLICT (id) DO NOTHING
RETURNING id
"""
_VERSION = "(extract(epoch FROM updated_at) * 1000000)::bigint AS version"
_READ = f"SELECT data, updated_at, updated_by, {_VERSION} FROM settings WHERE id = 1"  # noqa: S608
# Strictly increasing even when two writers' clocks (transaction starts) disagree:
# the row lock orders them and each lands at least 1 us after the previous.
_UPDATE = f"""
UPDATE settings
   SET data = $1::jsonb,
       updated_by = $2,
       updated_at = GREATEST(clock_timestamp(), updated_at + interval '1 microsecond')
 WHERE id = 1
RETURNING data, updated_at, updated_by, {_VERSION}
"""  # noqa: S608 - composed of constant fragments only
_AUDIT = "INSERT INTO audit_log (actor, action, target, detail) VALUES ($1, $2, 'settings', $3)"


def _stored(row: asyncpg.Record | None) -> StoredSettings:
    assert row is not None  # the caller seeded the row in this transaction
    # Fields added by newer releases take their defaults until an operator sets them.
    known = {k: v for k, v in row["data"].items() if k in RuntimeSettings.model_fields}
    return StoredSettings(
        validate_runtime_settings(known), row["version"], row["updated_at"], row["updated_by"]
    )


async def _seed(conn: asyncpg.Connection | PoolConnectionProxy, actor: str) -> None:
    seed = settings_from_env()
    if await conn.fetchval(_SEED, seed.model_dump(), actor) is not None:
        await conn.execute(_AUDIT, actor, "settings.seed", {"settings": seed.model_dump()})


async def load_stored_settings(pool: asyncpg.Pool, *, actor: str) -> StoredSettings:
    """The stored row; seeded from the environment (and audited) when there is none yet."""
    async with pool.acquire() as conn, conn.transaction():
        await _seed(conn, actor)
        row = await conn.fetchrow(_READ)
    return _stored(row)


async def load_runtime_settings(pool: asyncpg.Pool, *, actor: str) -> RuntimeSettings:
    return (await load_stored_settings(pool, actor=actor)).settings


async def store_runtime_settings(
    pool: asyncpg.Pool,
    data: Mapping[str, Any],
    *,
    actor: str,
    expected_version: int | None = None,
) -> StoredSettings:
    """Validate and replace the whole row, with its audit entry, in one transaction."""
    new = validate_runtime_settings(data, complete=True)
    async with pool.acquire() as conn, conn.transaction():
        await _seed(conn, actor)
        old = _stored(await conn.fetchrow(_READ + " FOR UPDATE"))
        if expected_version is not None and expected_version != old.version:
            raise SettingsConflict(old.version)
        row = await conn.fetchrow(_UPDATE, new.model_dump(), actor)
        stored = _stored(row)
        before, after = old.settings.model_dump(), new.model_dump()
        changed = {k: {"from": before[k], "to": v} for k, v in after.items() if before[k] != v}
        detail = {"changed": changed, "version": stored.version, "previous": old.version}
        await conn.execute(_AUDIT, actor, "settings.update", detail)
    return stored
