"""The KV plane: ``/kv`` reads and writes, the namespace list, the admin's garbage collection."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from keyforge_shared.protocol.fields import StorableText

MAX_VALUE_CHARS = 256 * 1024
MAX_TTL_S = 10 * 365 * 86400
# The retention ``keyforge gc`` applies when the operator names none.
DEFAULT_RETAIN_DAYS = 30
KvState = Literal["live", "superseded", "deleted", "expired"]


class KvPut(BaseModel):
    """``PUT /kv/{namespace}/{key}``."""

    model_config = ConfigDict(extra="forbid")

    value: Annotated[str, Field(max_length=MAX_VALUE_CHARS), StorableText]
    ttl: Annotated[int, Field(ge=0, le=MAX_TTL_S)] | None = None


class KvKey(BaseModel):
    """One version of one key; ``value`` is null for a secret unless revealed."""

    namespace: str
    key: str
    value: str | None
    version: int
    ttl: int | None
    created_at: datetime
    expires_at: datetime | None
    created_by: str
    secret: bool
    state: KvState | None = None  # only in history listings


class KvKeys(BaseModel):
    """``GET /kv/{namespace}``: the live keys, or every version with ``?history=true``."""

    namespace: str
    keys: list[KvKey]


class KvDeleted(BaseModel):
    namespace: str
    key: str
    version: int
    deleted: Literal[True] = True


class KvNamespace(BaseModel):
    namespace: str
    versions: int
    live_keys: int


class KvNamespaces(BaseModel):
    """``GET /kv``: every namespace that holds a version."""

    namespaces: list[KvNamespace]


class KvGcIn(BaseModel):
    """``POST /kv/gc``: purge versions dead for more than ``retain_days`` days."""

    model_config = ConfigDict(extra="forbid")

    retain_days: Annotated[int, Field(ge=0, le=36500)] = DEFAULT_RETAIN_DAYS


class KvGcPurged(BaseModel):
    """How many versions were purged, by why they were dead."""

    retain_days: int
    superseded: int = 0
    deleted: int = 0
    expired: int = 0
