"""The fleet plane of one hive: its in-memory copy of the config layers, and the lease gate.

The heartbeat answer carries the config version on every beat, so the version
must cost nothing to read: each hive keeps every layer in memory
(:class:`LayerSnapshot`) and re-reads only the version every
``CONFIG_FOLLOW_S`` (one indexed one-row query), reloading the layers when it
moved. A hive that writes a layer reloads at once; the others follow within
that tick, well inside the shortest heartbeat interval (1 s).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

import asyncpg
from redis.asyncio import Redis

from keyforge_hive.fleet.freeze import sync_freeze_mirror
from keyforge_hive.fleet.layers import EMPTY_SNAPSHOT, LayerSnapshot, load_snapshot, read_version
from keyforge_shared.keys import Keys
from keyforge_shared.loops import run_every
from keyforge_shared.protocol.fleet import GROUP_LABEL, NodeConfigView, merge_layers

log = logging.getLogger(__name__)

CONFIG_FOLLOW_S = 0.5
FREEZE_SYNC_S = 1.0

_NODE_LABELS = "SELECT labels FROM nodes WHERE node_id = $1"
_LIVE_LEASES = "SELECT count(*) FROM job_leases WHERE node_id = $1 AND expires_at > now()"


def lease_cap(config_cap: int | None, runtime_cap: int | None) -> int | None:
    """How many live leases a node may hold: the tighter of its config's ``max_leases``
    and the fleet's runtime cap; None when neither limits it."""
    caps = [c for c in (config_cap, runtime_cap) if c is not None]
    return min(caps) if caps else None


def group_of(labels: dict[str, Any] | None) -> str | None:
    value = (labels or {}).get(GROUP_LABEL)
    return str(value) if value else None


@dataclass
class FleetControl:
    pool: asyncpg.Pool
    valkey: Redis
    keys: Keys
    # The fleet-wide runtime setting ``max_leases_per_node``.
    runtime_cap: Callable[[], int | None] = lambda: None
    snapshot: LayerSnapshot = field(default=EMPTY_SNAPSHOT)

    @property
    def config_version(self) -> int:
        return self.snapshot.version

    async def refresh(self, *, at_least: int | None = None) -> None:
        """Reload the layers if the stored version moved (or is below ``at_least``)."""
        version = await read_version(self.pool)
        if version == self.snapshot.version and (at_least is None or version >= at_least):
            return
        snapshot = await load_snapshot(self.pool)
        if snapshot.version >= self.snapshot.version:
            if snapshot.version != self.snapshot.version:
                log.info("node config version %d loaded", snapshot.version)
            self.snapshot = snapshot

    async def node_group(self, node_id: str) -> tuple[bool, str | None]:
        """Whether the node is registered, and its group."""
        row = await self.pool.fetchrow(_NODE_LABELS, node_id)
        return (row is not None, group_of(row["labels"]) if row is not None else None)

    def view(self, node_id: str, group: str | None) -> NodeConfigView:
        snapshot = self.snapshot
        config, sources = merge_layers(snapshot.layers_for(node_id, group))
        return NodeConfigView(
            node_id=node_id,
            group=group,
            version=snapshot.version,
            config=config,
            sources=sources,
        )

    async def may_lease(self, node_id: str) -> bool:
        """The lease path's one check of a node's config: not paused, under its lease cap.

        Costs nothing unless some layer that applies could say no; the group
        is looked up only when a group layer limits leasing.
        """
        snapshot = self.snapshot
        group = None
        if snapshot.groups_limit_leasing():
            _, group = await self.node_group(node_id)
        config, _ = merge_layers(snapshot.layers_for(node_id, group))
        if config.paused:
            return False
        cap = lease_cap(config.max_leases, runtime_cap=self.runtime_cap())
        if cap is None:
            return True
        return cap > 0 and int(await self.pool.fetchval(_LIVE_LEASES, node_id)) < cap

    def loops(self) -> dict[str, Coroutine[Any, Any, None]]:
        return {
            "fleet-config-follow": run_every(
                "fleet-config-follow", lambda: CONFIG_FOLLOW_S, self.refresh
            ),
            "fleet-freeze-sync": run_every(
                "fleet-freeze-sync",
                lambda: FREEZE_SYNC_S,
                lambda: sync_freeze_mirror(self.pool, self.valkey, self.keys),
            ),
        }
