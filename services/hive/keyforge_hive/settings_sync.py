"""How a hive keeps its runtime settings current and tells the rest of the fleet.

Postgres is the source of truth; Valkey carries changes to every process
(``keyforge_shared.live_settings``). A hive announces right after a write
commits, and every ``SYNC_S`` re-reads the row: that backstop heals an
announcement lost to a Valkey outage and re-seeds the Valkey key after a
data loss, so the gateway and assetmgr (which cannot reach Postgres) catch up.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from redis.exceptions import RedisError

from keyforge_hive.state import Hive
from keyforge_shared.live_settings import announce_settings
from keyforge_shared.runtime_settings import (
    StoredSettings,
    load_stored_settings,
    store_runtime_settings,
)

log = logging.getLogger(__name__)

SYNC_S = 5.0


async def announce(hive: Hive, stored: StoredSettings) -> None:
    hive.runtime.offer(stored.version, stored.settings)
    await announce_settings(hive.valkey, hive.keys, stored.version, stored.settings)


async def sync_settings(hive: Hive) -> None:
    """One backstop pass: the row wins over whatever this hive and Valkey hold."""
    await announce(hive, await load_stored_settings(hive.pool, actor="hive"))


async def replace_settings(
    hive: Hive, data: Mapping[str, Any], *, actor: str, expected_version: int | None
) -> StoredSettings:
    """Validate, store with its audit entry, apply here and announce to the fleet."""
    stored = await store_runtime_settings(
        hive.pool, data, actor=actor, expected_version=expected_version
    )
    try:
        await announce(hive, stored)
    except (RedisError, OSError) as exc:
        # Committed already; the next backstop pass of any hive announces it.
        hive.runtime.offer(stored.version, stored.settings)
        log.warning("settings stored but not announced (%s)", type(exc).__name__)
    return stored
