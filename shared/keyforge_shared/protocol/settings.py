"""``GET/PUT /settings``: the runtime settings object, the same shape both ways.

The version travels as the ``ETag``; who changed it last in ``headers.UPDATED_BY``.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator


class RuntimeSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    heartbeat_ttl_s: Annotated[int, Field(ge=3, le=3600)] = 30
    # Extra time past the TTL before a silent node is declared down: one late
    # beat must not flip a node (Kubernetes raised its 40 s to 50 s for this).
    heartbeat_grace_s: Annotated[int, Field(ge=0, le=3600)] = 10
    profile_lock_window_s: Annotated[int, Field(ge=1, le=30 * 86400)] = 86400
    lease_s: Annotated[int, Field(ge=5, le=86400)] = 300
    result_retention_days: Annotated[int, Field(ge=1, le=3650)] = 90
    backup_retention_days: Annotated[int, Field(ge=1, le=3650)] = 14
    last_seen_flush_s: Annotated[int, Field(ge=10, le=3600)] = 120
    # POST /results refuses a claimed score further than this from the hive's
    # own. Scores are about 1e6 and deterministic to the last bit on every
    # machine, so a claim further off was computed with other inputs or made up.
    score_tolerance: Annotated[float, Field(ge=0, le=1e9, allow_inf_nan=False)] = 5.0

    # Open /events streams one client address may hold, fleet-wide (an IPv6
    # client counts per /64). Each costs a thread of the ingress for as long as
    # it lasts; 20 leaves room for a household or an office behind one NAT with
    # a few dashboards each, and an operator raises it for a bigger one.
    sse_streams_per_address: Annotated[int, Field(ge=1, le=100_000)] = 20

    @property
    def heartbeat_interval_s(self) -> float:
        """Nodes beat three times per TTL, so one lost beat never expires them."""
        return self.heartbeat_ttl_s / 3

    @property
    def down_after_s(self) -> int:
        return self.heartbeat_ttl_s + self.heartbeat_grace_s

    # A field validator rather than a model one, so the error names the field.
    @field_validator("last_seen_flush_s")
    @classmethod
    def _flush_not_faster_than_ttl(cls, value: int, info: ValidationInfo) -> int:
        ttl = info.data.get("heartbeat_ttl_s")
        if ttl is not None and value < ttl:
            raise ValueError(f"must be at least heartbeat_ttl_s ({ttl})")
        return value
