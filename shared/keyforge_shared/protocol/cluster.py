"""``GET /cluster/stats``: the public fleet overview."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel


class ClusterStats(BaseModel):
    nodes_online: int
    nodes_draining: int
    total_ips: float
    avg_temperature_c: float | None
    ram_used_bytes: int
    ram_total_bytes: int
    jobs_active: int
    as_of: datetime
