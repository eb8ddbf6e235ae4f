"""``/kv``: the versioned namespaced KV (access rules in ``keyforge_hive.kv.access``).

``GET /kv/{namespace}`` lists the live keys (``?history=true``: every
version with its state), ``GET /kv/{namespace}/{key}`` answers the newest
live version, ``PUT`` writes a new version and ``DELETE`` writes a deletion
marker. A secret's ``value`` is null unless an admin asks ``?reveal=true``;
each reveal is audited, and no value is ever logged or audited.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Query
from pydantic import BaseModel, ConfigDict, Field

from keyforge_hive.auth import AdminAuth, NodeAuth, Role
from keyforge_hive.kv import gc as kv_gc
from keyforge_hive.kv import store as kv_store
from keyforge_hive.kv.access import Access, authorize
from keyforge_hive.kv.names import Namespace, parse_kv_path
from keyforge_hive.state import Hive, HiveDep
from keyforge_shared.errors import DependencyDown, Forbidden, KeyforgeError, NotFound
from keyforge_shared.kv_crypto import Keyring, SecretsKeyMismatch, SecretTampered
from keyforge_shared.strict_input import StorableText

router = APIRouter(tags=["kv"])
MAX_TTL_S = 10 * 365 * 86400

NodeHeader = Annotated[str | None, Header(alias="X-Keyforge-Node")]
Flag = Annotated[bool, Query()]


class KvPut(BaseModel):
    model_config = ConfigDict(extra="forbid")

    value: Annotated[str, Field(max_length=kv_store.MAX_VALUE_CHARS), StorableText]
    ttl: Annotated[int, Field(ge=0, le=MAX_TTL_S)] | None = None


def _describe(row: kv_store.KvRow, *, value: str | None, state: bool = False) -> dict[str, Any]:
    described: dict[str, Any] = {
        "namespace": row.namespace,
        "key": row.key,
        "value": value,
        "version": row.version,
        "ttl": row.ttl,
        "created_at": row.created_at.isoformat(),
        "expires_at": row.expires_at.isoformat() if row.expires_at else None,
        "created_by": row.created_by,
        "secret": row.secret,
    }
    if state:
        described["state"] = row.state
    return described


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
async def list_namespaces(hive: HiveDep, _: AdminAuth) -> dict[str, Any]:
    async with hive.pool.acquire() as db:
        return {"namespaces": await kv_gc.namespaces(db)}


@router.get("/kv/{path:path}")
async def read(
    path: str,
    *,
    hive: HiveDep,
    role: NodeAuth,
    node: NodeHeader = None,
    history: Flag = False,
    reveal: Flag = False,
) -> dict[str, Any]:
    namespace, key = parse_kv_path(path)
    await authorize(hive.pool, role, node, namespace, Access.READ)
    if reveal and role is not Role.ADMIN:
        raise Forbidden("only an admin may reveal a secret", code="reveal_forbidden")
    async with hive.pool.acquire() as db:
        if key is None:
            if reveal:
                raise KeyforgeError("reveal one key at a time", code="bad_reveal")
            rows = await (
                kv_store.history(db, namespace) if history else kv_store.live_keys(db, namespace)
            )
            return {
                "namespace": namespace.name,
                "keys": [_describe(r, value=r.value, state=history) for r in rows],
            }
        if history:
            rows = await kv_store.history(db, namespace, key)
            if not rows:
                raise NotFound(f"{namespace.name}/{key} has no versions", code="unknown_key")
            return {
                "namespace": namespace.name,
                "keys": [_describe(r, value=r.value, state=True) for r in rows],
            }
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


@router.put("/kv/{path:path}")
async def write(
    path: str, body: KvPut, hive: HiveDep, role: NodeAuth, node: NodeHeader = None
) -> dict[str, Any]:
    namespace, key = _target(path)
    actor = await authorize(hive.pool, role, node, namespace, Access.WRITE)
    keyring = _keyring(hive) if namespace.secret else None
    async with hive.pool.acquire() as db:
        row = await kv_store.put_value(
            db, namespace, key, body.value, ttl_s=body.ttl, actor=actor, keyring=keyring
        )
    return _describe(row, value=None if row.secret else row.value)


@router.delete("/kv/{path:path}")
async def delete(
    path: str, hive: HiveDep, role: NodeAuth, node: NodeHeader = None
) -> dict[str, Any]:
    namespace, key = _target(path)
    actor = await authorize(hive.pool, role, node, namespace, Access.WRITE)
    async with hive.pool.acquire() as db:
        row = await kv_store.delete_key(db, namespace, key, actor=actor)
    if row is None:
        raise NotFound(f"{namespace.name}/{key} is not set", code="unknown_key")
    return {"namespace": row.namespace, "key": row.key, "version": row.version, "deleted": True}
