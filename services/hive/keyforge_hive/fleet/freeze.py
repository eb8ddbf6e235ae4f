"""The fleet-wide dispatch freeze: one row in Postgres, mirrored into one Valkey key.

Postgres is the record (who set it, when, why, until when); the lease path
reads only the mirror, in the round trip it already makes (``node_gate``):
the key present means frozen. A freeze with an ``until`` is mirrored with
that expiry (``PXAT``), so leasing resumes at that instant on every hive by
itself; the hives' sweep then deletes the ended row, and the one hive whose
delete took it audits and announces the end, once.

Every write mirrors inside its transaction, under one advisory lock that
the hives' backstop (``sync_freeze_mirror``, every few seconds) takes too, so
the key always ends up saying what the last committed writer said: a
backstop that read the row just before a write cannot overwrite that write's
mirror with the older state. A write whose mirror fails (Valkey down) rolls
back, so the hive answers 503 instead of a freeze that does not hold; a
mirror lost with Valkey's data comes back with the next backstop pass.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime

import asyncpg
from redis.asyncio import Redis

from keyforge_shared.events import publish_update
from keyforge_shared.keys import Keys
from keyforge_shared.protocol.fleet import FreezeIn, FreezeState

log = logging.getLogger(__name__)

_COLUMNS = "until, reason, set_by, set_at"
_READ = f"SELECT {_COLUMNS} FROM fleet_freeze WHERE id = 1"  # noqa: S608
_SET = f"""
INSERT INTO fleet_freeze (id, until, reason, set_by, set_at)
VALUES (1, $1, $2, $3, clock_timestamp())
ON CONFLICT (id) DO UPDATE SET until = EXCLUDED.until, reason = EXCLUDED.reason,
    set_by = EXCLUDED.set_by, set_at = EXCLUDED.set_at
RETURNING {_COLUMNS}
"""  # noqa: S608 - constant fragments only
_CLEAR = f"DELETE FROM fleet_freeze WHERE id = 1 RETURNING {_COLUMNS}"  # noqa: S608
_SWEEP = f"DELETE FROM fleet_freeze WHERE until <= now() RETURNING {_COLUMNS}"  # noqa: S608
# Any constant shared by the writers and the backstop; "fr33" in ASCII.
_MIRROR_LOCK = 0x66723333
_AUDIT = "INSERT INTO audit_log (actor, action, target, detail) VALUES ($1, $2, 'fleet_freeze', $3)"


class FreezeInPast(ValueError):
    """``until`` has already passed: such a freeze would never be active."""


@dataclass(frozen=True, slots=True)
class StoredFreeze:
    until: datetime | None
    reason: str
    set_by: str
    set_at: datetime

    def active(self, now: datetime) -> bool:
        return self.until is None or self.until > now

    def state(self, now: datetime) -> FreezeState:
        if not self.active(now):
            return FreezeState(active=False)
        return FreezeState(
            active=True,
            until=self.until,
            reason=self.reason,
            set_by=self.set_by,
            set_at=self.set_at,
        )


def _stored(row: asyncpg.Record | None) -> StoredFreeze | None:
    if row is None:
        return None
    return StoredFreeze(row["until"], row["reason"], row["set_by"], row["set_at"])


def _audit_detail(freeze: StoredFreeze) -> dict[str, str | None]:
    until = freeze.until.isoformat() if freeze.until else None
    return {"until": until, "reason": freeze.reason}


async def read_freeze(pool: asyncpg.Pool) -> StoredFreeze | None:
    return _stored(await pool.fetchrow(_READ))


async def store_freeze(
    pool: asyncpg.Pool, valkey: Redis, keys: Keys, request: FreezeIn, *, actor: str
) -> StoredFreeze:
    """Set (or replace) the freeze, audited and mirrored, in one transaction."""
    until = request.until
    if until is not None and until.tzinfo is None:
        until = until.replace(tzinfo=UTC)
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", _MIRROR_LOCK)
        if until is not None and until <= await conn.fetchval("SELECT clock_timestamp()"):
            raise FreezeInPast("until must be in the future")
        stored = _stored(await conn.fetchrow(_SET, until, request.reason, actor))
        assert stored is not None
        await conn.execute(_AUDIT, actor, "freeze.set", _audit_detail(stored))
        await mirror_freeze(valkey, keys, stored)
    return stored


async def clear_freeze(
    pool: asyncpg.Pool, valkey: Redis, keys: Keys, *, actor: str
) -> StoredFreeze | None:
    """Lift the freeze; the one lifted (None if there was none), audited and mirrored."""
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", _MIRROR_LOCK)
        cleared = _stored(await conn.fetchrow(_CLEAR))
        if cleared is not None:
            await conn.execute(_AUDIT, actor, "freeze.clear", _audit_detail(cleared))
        await mirror_freeze(valkey, keys, None)
    return cleared


async def mirror_freeze(valkey: Redis, keys: Keys, freeze: StoredFreeze | None) -> None:
    """Make the Valkey key say what the row says (absent: not frozen)."""
    now = datetime.now(UTC)
    if freeze is None or not freeze.active(now):
        await valkey.delete(keys.fleet_freeze())
        return
    value = freeze.state(now).model_dump_json()
    if freeze.until is None:
        await valkey.set(keys.fleet_freeze(), value)
    else:
        await valkey.set(keys.fleet_freeze(), value, pxat=int(freeze.until.timestamp() * 1000))


async def sync_freeze_mirror(pool: asyncpg.Pool, valkey: Redis, keys: Keys) -> None:
    """One backstop pass: end an expired freeze (announced once), then re-mirror the row."""
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", _MIRROR_LOCK)
        ended = _stored(await conn.fetchrow(_SWEEP))
        if ended is not None:
            await conn.execute(_AUDIT, "hive", "freeze.expire", _audit_detail(ended))
        await mirror_freeze(valkey, keys, _stored(await conn.fetchrow(_READ)))
    if ended is not None:
        log.info("the dispatch freeze set by %s ended at %s", ended.set_by, ended.until)
        await announce_freeze(valkey, keys, FreezeState(active=False), "expired")


async def announce_freeze(valkey: Redis, keys: Keys, state: FreezeState, cause: str) -> None:
    """The ``fleet_freeze`` event; also what wakes every hive's parked polls."""
    data = {**state.model_dump(mode="json"), "cause": cause}
    await publish_update(valkey, keys, "fleet_freeze", data)
