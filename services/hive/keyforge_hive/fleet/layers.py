"""The layers of node config in Postgres: fleet, group and node, each a partial object.

Every write (replace or delete of one layer) bumps ``node_config_version``
under its row lock in the same transaction, with its audit entry: versions
follow commit order, so a hive that sees a newer version and reloads gets
at least that write.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from keyforge_shared.protocol.fleet import ConfigLayer, LayerScope, validate_config_layer

FLEET_NAME = ""  # the fleet layer's name in the table: there is only one

_BUMP = "UPDATE node_config_version SET version = version + 1 WHERE id = 1 RETURNING version"
_UPSERT = """
INSERT INTO node_config_layers (scope, name, data, updated_by, updated_at)
VALUES ($1, $2, $3::jsonb, $4, clock_timestamp())
ON CONFLICT (scope, name) DO UPDATE
   SET data = EXCLUDED.data, updated_by = EXCLUDED.updated_by, updated_at = EXCLUDED.updated_at
RETURNING data, updated_at, updated_by
"""
_READ_ONE = """
SELECT data, updated_at, updated_by FROM node_config_layers WHERE scope = $1 AND name = $2
"""
_DELETE = "DELETE FROM node_config_layers WHERE scope = $1 AND name = $2 RETURNING data"
_AUDIT = "INSERT INTO audit_log (actor, action, target, detail) VALUES ($1, $2, $3, $4)"
_VERSION = "SELECT version FROM node_config_version WHERE id = 1"
_ALL = "SELECT scope, name, data FROM node_config_layers"


@dataclass(frozen=True, slots=True)
class StoredLayer:
    layer: ConfigLayer
    updated_at: datetime | None
    updated_by: str | None


def _target(scope: LayerScope, name: str) -> str:
    return "node_config/fleet" if scope == "fleet" else f"node_config/{scope}/{name}"


def _layer_of(data: Mapping[str, Any]) -> ConfigLayer:
    """A stored layer; fields a newer release added and this one does not know are left out."""
    return validate_config_layer({k: v for k, v in data.items() if k in ConfigLayer.model_fields})


async def read_layer(pool: asyncpg.Pool, scope: LayerScope, name: str) -> StoredLayer:
    """The stored layer, or an empty one (nothing set) if there is none."""
    row = await pool.fetchrow(_READ_ONE, scope, name)
    if row is None:
        return StoredLayer(ConfigLayer(), None, None)
    return StoredLayer(_layer_of(row["data"]), row["updated_at"], row["updated_by"])


async def store_layer(
    pool: asyncpg.Pool, scope: LayerScope, name: str, data: Mapping[str, Any], *, actor: str
) -> tuple[StoredLayer, int]:
    """Validate and replace one whole layer, audited; the layer and the new version.

    Raises ``pydantic.ValidationError`` (naming each bad field) before touching anything.
    """
    layer = validate_config_layer(data)
    async with pool.acquire() as conn, conn.transaction():
        version = int(await conn.fetchval(_BUMP))
        before = await conn.fetchrow(_READ_ONE, scope, name)
        row = await conn.fetchrow(_UPSERT, scope, name, layer.fields_set(), actor)
        detail = {
            "from": before["data"] if before is not None else None,
            "to": layer.fields_set(),
            "version": version,
        }
        await conn.execute(_AUDIT, actor, "node_config.put", _target(scope, name), detail)
    assert row is not None  # an upsert always returns its row
    return StoredLayer(layer, row["updated_at"], row["updated_by"]), version


async def delete_layer(pool: asyncpg.Pool, scope: LayerScope, name: str, *, actor: str) -> int:
    """Remove one layer (its fields fall back to the layers below), audited; the new version."""
    async with pool.acquire() as conn, conn.transaction():
        version = int(await conn.fetchval(_BUMP))
        gone = await conn.fetchval(_DELETE, scope, name)
        detail = {"from": gone, "to": None, "version": version}
        await conn.execute(_AUDIT, actor, "node_config.delete", _target(scope, name), detail)
    return version


async def read_version(pool: asyncpg.Pool) -> int:
    return int(await pool.fetchval(_VERSION))


@dataclass(frozen=True)
class LayerSnapshot:
    """Every layer as of one version, held in memory by each hive."""

    version: int
    fleet: ConfigLayer
    groups: dict[str, ConfigLayer]
    nodes: dict[str, ConfigLayer]

    def layers_for(self, node_id: str, group: str | None) -> dict[LayerScope, ConfigLayer]:
        layers: dict[LayerScope, ConfigLayer] = {"fleet": self.fleet}
        if group is not None and group in self.groups:
            layers["group"] = self.groups[group]
        if node_id in self.nodes:
            layers["node"] = self.nodes[node_id]
        return layers

    def groups_limit_leasing(self) -> bool:
        """Whether any group layer sets a field the lease path enforces."""
        return any(g.paused is not None or g.max_leases is not None for g in self.groups.values())


EMPTY_SNAPSHOT = LayerSnapshot(0, ConfigLayer(), {}, {})


async def load_snapshot(pool: asyncpg.Pool) -> LayerSnapshot:
    """All layers and the version they are at, read in one consistent snapshot."""
    async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read"):
        version = int(await conn.fetchval(_VERSION))
        rows = await conn.fetch(_ALL)
    fleet = ConfigLayer()
    groups: dict[str, ConfigLayer] = {}
    nodes: dict[str, ConfigLayer] = {}
    for row in rows:
        layer = _layer_of(row["data"])
        if row["scope"] == "fleet":
            fleet = layer
        elif row["scope"] == "group":
            groups[row["name"]] = layer
        else:
            nodes[row["name"]] = layer
    return LayerSnapshot(version, fleet, groups, nodes)
