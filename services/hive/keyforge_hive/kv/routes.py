"""``/kv``: the versioned namespaced KV (access rules in ``keyforge_hive.kv.access``).

``GET /kv/{namespace}`` lists the live keys (``?history=true``: every
version with its state), ``GET /kv/{namespace}/{key}`` answers the newest
live version, ``PUT`` writes a new version and ``DELETE`` writes a deletion
marker. A secret's ``value`` is null unless an admin asks ``?reveal=true``;
each reveal is audited, and no value is ever logged or audited. ``POST
/kv/gc`` (admin) purges versions dead for longer than ``retain_days``.
"""

from __future__ import annotations

from typing import Annotated, cast

from fastapi import APIRouter, Query

from keyforge_hive.auth import AdminAuth, NodeAuth, Role
from keyforge_hive.kv import gc as kv_gc
from keyforge_hive.kv import store as kv_store
from keyforge_hive.kv.access import Access, authorize
from keyforge_hive.kv.names import Namespace, parse_kv_path
from keyforge_hive.nodes.rate_limits import Action
from keyforge_hive.state import Hive, HiveDep
from keyforge_shared.errors import DependencyDown, Forbidden, KeyforgeError, NotFound
from keyforge_shared.kv_crypto import Keyring, SecretsKeyMismatch, SecretTampered
from keyforge_shared.protocol.errors import error_responses
from keyforge_shared.protocol.kv import (
    KvDeleted,
    KvGcIn,
    KvGcPurged,
    KvKey,
    KvKeys,
    KvNamespaces,
    KvPut,
    KvState,
)

router = APIRouter(tags=["kv"], responses=error_responses(401, 403, 429, 503))
# Every KV path is parsed by hand (parse_kv_path): 400 bad_key/bad_reveal, 404 unknown.
KEY_ERRORS = error_responses(400, 404, 422)

Flag = Annotated[bool, Query()]


def _describe(row: kv_store.KvRow, *, value: str | None, state: bool = False) -> KvKey:
    return KvKey(
        namespace=row.namespace,
        key=row.key,
        value=value,
        version=row.version,
        ttl=row.ttl,
        created_at=row.created_at,
        expires_at=row.expires_at,
        created_by=row.created_by,
        secret=row.secret,
        state=cast(KvState, row.state) if state else None,
    )


def _keyring(hive: Hive) -> Keyring:
    if hive.secrets is None:
        raise DependencyDown(
            "KEYFORGE_SECRETS_KEY is not set on this hive: secret values cannot be "
            "written or revealed",
            code="secrets_key_missing",
            retry_after_s=60,
        )
    return hive.secrets


def _revealed(hive: Hive, row: kv_store.KvRow) -> str:
    try:
        return kv_store.reveal(row, _keyring(hive))
    except SecretsKeyMismatch as exc:
        raise DependencyDown(str(exc), code="secrets_key_mismatch", retry_after_s=60) from None
    except SecretTampered as exc:
        raise DependencyDown(str(exc), code="secret_undecryptable", retry_after_s=60) from None


def _target(path: str) -> tuple[Namespace, str]:
    namespace, key = parse_kv_path(path)
    if key is None:
        raise KeyforgeError(f"{namespace.name} is a namespace; name a key in it", code="bad_key")
    return namespace, key


@router.get("/kv")
async def list_namespaces(hive: HiveDep, _: AdminAuth) -> KvNamespaces:
    async with hive.pool.acquire() as db:
        return KvNamespaces(namespaces=await kv_gc.namespaces(db))


# Before /kv/{path:path}; "gc" is no namespace, so no KV path is shadowed.
@router.post("/kv/gc", responses=error_responses(422))
async def collect_garbage(body: KvGcIn, hive: HiveDep, role: AdminAuth) -> KvGcPurged:
    """Purge the versions dead (superseded, deleted, expired) for more than ``retain_days``;
    the newest live version of a key is never touched. Audited as ``kv.gc``."""
    async with hive.pool.acquire() as db:
        purged = await kv_gc.collect_garbage(db, retain_days=body.retain_days, actor=role.value)
    return KvGcPurged(retain_days=body.retain_days, **purged)


@router.get("/kv/{path:path}", responses=KEY_ERRORS)
async def read(
    path: str,
    *,
    hive: HiveDep,
    caller: NodeAuth,
    history: Flag = False,
    reveal: Flag = False,
) -> KvKey | KvKeys:
    namespace, key = parse_kv_path(path)
    await authorize(hive.pool, caller, namespace, Access.READ)
    if reveal and caller.role is not Role.ADMIN:
        raise Forbidden("only an admin may reveal a secret", code="reveal_forbidden")
    async with hive.pool.acquire() as db:
        if key is None:
            if reveal:
                raise KeyforgeError("reveal one key at a time", code="bad_reveal")
            rows = await (
                kv_store.history(db, namespace) if history else kv_store.live_keys(db, namespace)
            )
            return KvKeys(
                namespace=namespace.name,
                keys=[_describe(r, value=r.value, state=history) for r in rows],
            )
        if history:
            rows = await kv_store.history(db, namespace, key)
            if not rows:
                raise NotFound(f"{namespace.name}/{key} has no versions", code="unknown_key")
            return KvKeys(
                namespace=namespace.name,
                keys=[_describe(r, value=r.value, state=True) for r in rows],
            )
        row = await kv_store.read_key(db, namespace, key)
        if row is None:
            raise NotFound(f"{namespace.name}/{key} is not set", code="unknown_key")
        value = row.value
        if reveal and row.secret:
            value = _revealed(hive, row)
            await kv_store.audit(
                db, "admin", "kv.reveal", f"{namespace.name}/{key}", {"version": row.version}
            )
    return _describe(row, value=value)


@router.put("/kv/{path:path}", responses=KEY_ERRORS)
async def write(path: str, body: KvPut, hive: HiveDep, caller: NodeAuth) -> KvKey:
    namespace, key = _target(path)
    actor = await authorize(hive.pool, caller, namespace, Access.WRITE)
    if caller.node_id is not None:
        await hive.limits.spend(Action.KV_WRITES, caller.node_id)
    keyring = _keyring(hive) if namespace.secret else None
    async with hive.pool.acquire() as db:
        row = await kv_store.put_value(
            db, namespace, key, body.value, ttl_s=body.ttl, actor=actor, keyring=keyring
        )
    return _describe(row, value=None if row.secret else row.value)


@router.delete("/kv/{path:path}", responses=KEY_ERRORS)
async def delete(path: str, hive: HiveDep, caller: NodeAuth) -> KvDeleted:
    namespace, key = _target(path)
    actor = await authorize(hive.pool, caller, namespace, Access.WRITE)
    if caller.node_id is not None:
        await hive.limits.spend(Action.KV_WRITES, caller.node_id)
    async with hive.pool.acquire() as db:
        row = await kv_store.delete_key(db, namespace, key, actor=actor)
    if row is None:
        raise NotFound(f"{namespace.name}/{key} is not set", code="unknown_key")
    return KvDeleted(namespace=row.namespace, key=row.key, version=row.version)
