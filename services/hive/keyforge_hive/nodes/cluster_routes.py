"""Public fleet overview."""

from __future__ import annotations

from fastapi import APIRouter

from keyforge_hive.nodes.cluster_stats import get_cluster_stats
from keyforge_hive.state import HiveDep
from keyforge_shared.protocol.cluster import ClusterStats
from keyforge_shared.protocol.errors import error_responses

router = APIRouter(tags=["cluster"])


@router.get("/cluster/stats", responses=error_responses(503))
async def cluster_stats(hive: HiveDep) -> ClusterStats:
    cached = hive.stats_cache.fresh()
    if cached is not None:
        return cached
    before = hive.stats_cache.value
    stats = await get_cluster_stats(
        hive.valkey,
        hive.keys,
        hive.pool,
        hive.runtime.current.down_after_s,
        jobs_active_before=before.jobs_active if before else 0,
    )
    return hive.stats_cache.store(stats)
