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
from typing import Any

import asyncpg
from asyncpg.pool import PoolConnectionProxy
from pydantic import ValidationError

from keyforge_shared.protocol.settings import RuntimeSettings

# The model is part of the wire protocol; stored and seeded here.
__all__ = [
    "RuntimeSettings",
    "SettingsConflict",
    "StoredSettings",
    "load_runtime_settings",
    "load_stored_settings",
    "settings_from_env",
    "store_runtime_settings",
    "validate_runtime_settings",
]

ENV_PREFIX = "KEYFORGE_SETTING_"


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
