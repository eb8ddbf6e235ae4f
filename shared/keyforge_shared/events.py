"""The event bus: one capped Valkey stream that every hive fans out to its SSE clients.

``publish_update`` appends an event; the stream entry id is the event's SSE
``id:``, totally ordered across the fleet, so a client reconnecting with
``Last-Event-ID`` is replayed with ``XRANGE`` (or told to resync when the id
has already been trimmed away).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal

from redis.asyncio import Redis

from keyforge_shared.keys import Keys

EventType = Literal["job_status", "new_record", "asset_update", "node_status", "settings_changed"]
EVENT_TYPES: Final[frozenset[str]] = frozenset(
    {"job_status", "new_record", "asset_update", "node_status", "settings_changed"}
)
# Approximate trimming keeps XADD O(1); the stream always holds at least this many.
HISTORY_LEN: Final = 10_000


@dataclass(frozen=True, slots=True)
class Event:
    id: str
    type: str
    data: dict[str, Any]


async def publish_update(
    valkey: Redis, keys: Keys, event_type: EventType, data: Mapping[str, Any]
) -> str:
    """Put one event on the bus; returns its id."""
    entry_id = await valkey.xadd(
        keys.event_log(),
        {"type": event_type, "data": json.dumps(data, separators=(",", ":"))},
        maxlen=HISTORY_LEN,
        approximate=True,
    )
    return entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)


def decode_entry(entry_id: bytes | str, fields: Mapping[bytes, bytes]) -> Event:
    raw_id = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
    return Event(
        id=raw_id,
        type=fields.get(b"type", b"").decode(),
        data=json.loads(fields.get(b"data", b"{}")),
    )
