"""Public fleet overview."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from keyforge_hive.nodes.cluster_stats import get_cluster_stats
from keyforge_hive.state import HiveDep

router = APIRouter(tags=["cluster"])


@router.get("/cluster/stats")
async def cluster_stats(hive: HiveDep) -> dict[str, Any]:
    cached = hive.stats_cache.fresh()
    if cached is not None:
        return cached
    before = hive.stats_cache.value
    stats = await get_cluster_stats(
        hive.valkey,
        hive.keys,
        hive.pool,
        hive.runtime.current.down_after_s,
        jobs_active_before=int(before["jobs_active"]) if before else 0,
    )
    return hive.stats_cache.store(stats)
