"""Fleet control on the wire: the dispatch freeze and the layered node config (seed 003).

A config layer is partial: a field it leaves out (or sets to null) is not
set by that layer. :func:`validate_config_layer` is the one validation of a
layer, used by the hive's API and by the writer that stores it.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, field_serializer

LayerScope = Literal["fleet", "group", "node"]
# The order layers apply in: each later one overrides the fields it sets.
LAYER_ORDER: tuple[LayerScope, ...] = ("fleet", "group", "node")
GROUP_LABEL = "group"  # a node's group is this label of its registration

ThreadCount = Annotated[StrictInt, Field(ge=1, le=4096)]
MaxLeases = Annotated[StrictInt, Field(ge=0, le=4096)]


class FreezeIn(BaseModel):
    """``PUT /fleet/freeze``: ``until`` null is open-ended."""

    model_config = ConfigDict(extra="forbid")

    until: datetime | None = None
    reason: Annotated[str, Field(max_length=500)] = ""


class FreezeState(BaseModel):
    """``GET /fleet/freeze`` and the data of a ``fleet_freeze`` event."""

    active: bool
    until: datetime | None = None
    reason: str | None = None
    set_by: str | None = None
    set_at: datetime | None = None


class ConfigLayer(BaseModel):
    """One layer of node config: only the fields it sets."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    thread_count: ThreadCount | None = None
    # Lowest OS priority for the workers, and one worker fewer than otherwise.
    background: StrictBool | None = None
    max_leases: MaxLeases | None = None
    # A paused node finishes its running batch and takes no new lease.
    paused: StrictBool | None = None

    def fields_set(self) -> dict[str, Any]:
        return self.model_dump(exclude_none=True)


def validate_config_layer(data: Mapping[str, Any]) -> ConfigLayer:
    """The one validation of a layer (raises ``pydantic.ValidationError`` naming each field)."""
    return ConfigLayer.model_validate(dict(data))


class EffectiveConfig(BaseModel):
    """A node's config after fleet, group and node layers; None: the node decides."""

    thread_count: int | None = None
    background: bool = False
    max_leases: int | None = None
    paused: bool = False


class NodeConfigView(BaseModel):
    """``GET /nodes/{node_id}/config`` and the registration answer's ``config``."""

    node_id: str
    group: str | None
    version: int
    config: EffectiveConfig
    # field -> the layer that set it, for operators wondering where a value comes from
    sources: dict[str, LayerScope] = Field(default_factory=dict)


class LayerView(BaseModel):
    """``GET/PUT /fleet/config[/groups/{g}|/nodes/{n}]``."""

    scope: LayerScope
    name: str | None
    layer: ConfigLayer
    version: int
    updated_at: datetime | None = None
    updated_by: str | None = None

    @field_serializer("layer")
    def _only_fields_set(self, layer: ConfigLayer) -> dict[str, Any]:
        # A layer is partial: a field it does not set is absent, not null.
        return layer.fields_set()


def merge_layers(
    layers: Mapping[LayerScope, ConfigLayer],
) -> tuple[EffectiveConfig, dict[str, LayerScope]]:
    """fleet, then group, then node: each set field overrides what came before."""
    merged: dict[str, Any] = {}
    sources: dict[str, LayerScope] = {}
    for scope in LAYER_ORDER:
        layer = layers.get(scope)
        if layer is not None:
            for name, value in layer.fields_set().items():
                merged[name] = value
                sources[name] = scope
    return EffectiveConfig.model_validate(merged), sources
