"""The versioned KV in Postgres: every write a new row, reads see the newest live one.

A row is one version of one key. Its ``state``, derived when read:

* ``live``: the newest version, not expired;
* ``expired``: its TTL ran out (the sweep sets ``tombstone`` on it later,
  but a read treats it as missing from the first instant, by the database
  clock);
* ``deleted``: a deletion marker (``tombstone`` with no value), written by
  DELETE or when a job's namespaces are tombstoned;
* ``superseded``: an older version.

Secret values are stored sealed (``keyforge_shared.kv_crypto``); this module
moves their bytes and never sees a plaintext except the one it seals.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from keyforge_hive.kv.names import Namespace, job_namespaces
from keyforge_shared.kv_crypto import Keyring, Sealed, secret_aad

Db = asyncpg.Connection | PoolConnectionProxy
# Class id of the per-key advisory locks (two-int form: no clash with one-bigint locks).
KV_LOCK_CLASS = 0x6B76  # "kv"

_COLUMNS = """
    namespace, key, version, value, ciphertext, nonce, key_id, expires_at, tombstone,
    created_at, created_by,
    (expires_at IS NOT NULL AND expires_at <= now()) AS expired,
    round(extract(epoch FROM expires_at - created_at))::integer AS ttl
"""
_LATEST = f"""
SELECT {_COLUMNS} FROM kv WHERE namespace = $1 AND key = $2 ORDER BY version DESC LIMIT 1
"""  # noqa: S608 - composed of constant fragments only
_LIVE_KEYS = f"""
SELECT * FROM (
    SELECT DISTINCT ON (key) {_COLUMNS} FROM kv WHERE namespace = $1 ORDER BY key, version DESC
) AS latest
WHERE NOT tombstone AND NOT expired
ORDER BY key
"""  # noqa: S608 - composed of constant fragments only
_HISTORY = f"""
SELECT {_COLUMNS}, max(version) OVER (PARTITION BY namespace, key) AS newest
  FROM kv WHERE namespace = $1 AND ($2::text IS NULL OR key = $2)
 ORDER BY key, version
"""  # noqa: S608 - composed of constant fragments only
_NEXT_VERSION = "SELECT coalesce(max(version), 0) + 1 FROM kv WHERE namespace = $1 AND key = $2"
_INSERT = f"""
INSERT INTO kv (namespace, key, version, value, ciphertext, nonce, key_id, expires_at,
                tombstone, created_by)
VALUES ($1, $2, $3, $4, $5, $6, $7, now() + $8::integer * interval '1 second', $9, $10)
RETURNING {_COLUMNS}
"""  # noqa: S608 - composed of constant fragments only
# detail travels as text: the same SQL works on pool connections (jsonb codec) and plain ones.
_AUDIT = (
    "INSERT INTO audit_log (actor, action, target, detail) VALUES ($1, $2, $3, $4::text::jsonb)"
)


@dataclass(frozen=True, slots=True)
class KvRow:
    namespace: str
    key: str
    version: int
    value: str | None
    sealed: Sealed | None
    ttl: int | None
    expires_at: datetime | None
    created_at: datetime
    created_by: str
    state: str

    @property
    def secret(self) -> bool:
        return self.sealed is not None

    @property
    def live(self) -> bool:
        return self.state == "live"


def _row(record: asyncpg.Record, newest: int | None = None) -> KvRow:
    marker = record["value"] is None and record["ciphertext"] is None and record["tombstone"]
    if marker:
        state = "deleted"
    elif newest is not None and record["version"] < newest:
        state = "superseded"
    elif record["tombstone"] or record["expired"]:
        state = "expired"
    else:
        state = "live"
    sealed = None
    if record["ciphertext"] is not None:
        sealed = Sealed(record["key_id"], bytes(record["nonce"]), bytes(record["ciphertext"]))
    return KvRow(
        namespace=record["namespace"],
        key=record["key"],
        version=record["version"],
        value=record["value"],
        sealed=sealed,
        ttl=record["ttl"],
        expires_at=record["expires_at"],
        created_at=record["created_at"],
        created_by=record["created_by"],
        state=state,
    )


async def audit(db: Db, actor: str, action: str, target: str, detail: dict[str, Any]) -> None:
    """One audit entry; callers never put a value, secret or not, in ``detail``."""
    await db.execute(_AUDIT, actor, action, target, json.dumps(detail))


async def _insert(db: Db, *args: object) -> asyncpg.Record:
    record = await db.fetchrow(_INSERT, *args)
    assert record is not None  # INSERT ... RETURNING always returns its row
    return record


async def read_key(db: Db, namespace: Namespace, key: str) -> KvRow | None:
    """The newest live version of a key; None when missing, deleted or expired."""
    record = await db.fetchrow(_LATEST, namespace.name, key)
    if record is None:
        return None
    row = _row(record)
    return row if row.live else None


async def live_keys(db: Db, namespace: Namespace) -> list[KvRow]:
    return [_row(r) for r in await db.fetch(_LIVE_KEYS, namespace.name)]


async def history(db: Db, namespace: Namespace, key: str | None = None) -> list[KvRow]:
    """Every stored version, oldest first per key, each with its state."""
    return [_row(r, r["newest"]) for r in await db.fetch(_HISTORY, namespace.name, key)]


async def _lock_key(db: Db, namespace: Namespace, key: str) -> int:
    """Serialise writers of one key for this transaction; the next version number."""
    await db.execute(
        "SELECT pg_advisory_xact_lock($1, hashtext($2))", KV_LOCK_CLASS, f"{namespace.name}/{key}"
    )
    version: int = await db.fetchval(_NEXT_VERSION, namespace.name, key)
    return version


async def put_value(
    db: Db,
    namespace: Namespace,
    key: str,
    value: str,
    *,
    ttl_s: int | None,
    actor: str,
    keyring: Keyring | None,
) -> KvRow:
    """Write a new version (sealed in a secret namespace); ``keyring`` is needed for secrets."""
    async with db.transaction():
        version = await _lock_key(db, namespace, key)
        plain: str | None = value
        sealed: Sealed | None = None
        if namespace.secret:
            if keyring is None:
                raise ValueError("a secret namespace needs a keyring")
            sealed = keyring.seal(value, secret_aad(namespace.name, key, version))
            plain = None
        record = await _insert(
            db,
            namespace.name,
            key,
            version,
            plain,
            sealed.ciphertext if sealed else None,
            sealed.nonce if sealed else None,
            sealed.key_id if sealed else None,
            ttl_s or None,  # 0 means "never expires", as in the original tool
            False,
            actor,
        )
        detail = {"version": version, "ttl": ttl_s or None, "secret": namespace.secret}
        await audit(db, actor, "kv.put", f"{namespace.name}/{key}", detail)
    return _row(record)


async def delete_key(db: Db, namespace: Namespace, key: str, *, actor: str) -> KvRow | None:
    """Write a deletion marker over a live key; None when there was nothing live."""
    async with db.transaction():
        version = await _lock_key(db, namespace, key)
        if await read_key(db, namespace, key) is None:
            return None
        record = await _insert(
            db, namespace.name, key, version, None, None, None, None, None, True, actor
        )
        await audit(db, actor, "kv.delete", f"{namespace.name}/{key}", {"version": version})
    return _row(record)


def reveal(row: KvRow, keyring: Keyring) -> str:
    """A secret's plaintext; raises SecretsKeyMismatch / SecretTampered rather than guess."""
    if row.sealed is None:
        return row.value or ""
    return keyring.open(row.sealed, secret_aad(row.namespace, row.key, row.version))


_TOMBSTONE_LIVE = """
INSERT INTO kv (namespace, key, version, tombstone, created_by)
SELECT namespace, key, version + 1, true, $2 FROM (
    SELECT DISTINCT ON (namespace, key) namespace, key, version, tombstone
      FROM kv WHERE namespace = ANY($1::text[]) ORDER BY namespace, key, version DESC
) AS latest
WHERE NOT tombstone
ON CONFLICT (namespace, key, version) DO NOTHING
"""


async def tombstone_job_namespaces(db: Db, job_id: str, *, actor: str) -> int:
    """Mark every key of a job's namespaces deleted (job cancelled or removed).

    The jobs code calls this in the transaction that cancels the job. A write
    racing it takes the version it wanted, so it passes again until no key
    is left; nodes lose write access with their lease anyway.
    """
    names = [ns.name for ns in job_namespaces(job_id)]
    total = 0
    for _ in range(5):
        status = await db.execute(_TOMBSTONE_LIVE, names, actor)
        written = int(status.rsplit(" ", 1)[-1])
        total += written
        if written == 0:
            break
    if total:
        await audit(db, actor, "kv.tombstone_job", job_id, {"keys": total, "namespaces": names})
    return total
