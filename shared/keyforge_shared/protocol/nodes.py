"""The node plane: registration, heartbeats, the operator's node table and drain switch."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from keyforge_shared.protocol.fields import NodeId, StorableText
from keyforge_shared.protocol.fleet import NodeConfigView

Label = Annotated[str, Field(max_length=256), StorableText]
LabelKey = Annotated[str, Field(min_length=1, max_length=64), StorableText]
FiniteNonNegative = Annotated[float, Field(ge=0, le=1e15, allow_inf_nan=False)]
ByteCount = Annotated[int, Field(ge=0, le=2**60)]
NodeStatus = Literal["ready", "draining", "down"]


class NodeRegistration(BaseModel):
    """``POST /nodes/register``."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    node_id: NodeId
    cpu_model: Annotated[str, Field(min_length=1, max_length=200), StorableText]
    cores: Annotated[int, Field(ge=1, le=4096)]
    l2_cache_kb: Annotated[int, Field(ge=0, le=1 << 30)] | None
    ops_per_sec: Annotated[float, Field(ge=0, le=1e13, allow_inf_nan=False)]
    arch: Annotated[str, Field(min_length=1, max_length=32), StorableText] | None = None
    ram_total_bytes: ByteCount | None = None
    labels: Annotated[dict[LabelKey, Label], Field(max_length=32)] = Field(default_factory=dict)


class Tuning(BaseModel):
    strategy: Literal["table", "fly"]
    batch_size: int
    thread_count: int


class Registered(BaseModel):
    """The answer to a registration: how to work, and how often to beat."""

    status: Literal["registered"] = "registered"
    # Only when this registration claimed the id: the node keeps it (0600) and sends it
    # as ``headers.NODE_TOKEN`` on every node-scoped request; the hive keeps only a hash.
    node_token: str | None = Field(default=None, exclude_if=lambda token: token is None)
    tuning: Tuning
    heartbeat_interval_s: float
    # The node's effective layered config (None only from a hive that predates it).
    config: NodeConfigView | None = None


class HeartbeatIn(BaseModel):
    """``POST /nodes/{node_id}/heartbeat``: answered 204, the next interval in
    ``headers.HEARTBEAT_INTERVAL``."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    ips: FiniteNonNegative
    temperature_c: Annotated[float, Field(ge=-100, le=200, allow_inf_nan=False)] | None = None
    ram_used_bytes: ByteCount | None = None
    ram_total_bytes: ByteCount | None = None
    job_id: Annotated[str, Field(max_length=128, pattern=r"^[A-Za-z0-9_-]*$")] | None = None


class NodeView(BaseModel):
    """One row of ``GET /nodes``."""

    node_id: str
    cpu_model: str
    cores: int
    # Beyond the contract's fields: the speed the node measured at registration.
    ops_per_sec: float = 0.0
    status: NodeStatus
    last_seen: datetime | None
    ips: float
    labels: dict[str, str]


class DrainState(BaseModel):
    """``POST /nodes/{node_id}/drain`` and ``/undrain``: the node's status now."""

    node_id: str
    status: NodeStatus
