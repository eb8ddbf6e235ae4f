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
from typing import Any, Final, Literal, cast

from redis.asyncio import Redis

from keyforge_shared.keys import Keys

EventType = Literal["job_status", "new_record", "asset_update", "node_status", "fleet_freeze"]
EVENT_TYPES: Final[frozenset[str]] = frozenset(
    {"job_status", "new_record", "asset_update", "node_status", "fleet_freeze"}
)
# Approximate trimming keeps XADD O(1); the stream always holds at least this many.
HISTORY_LEN: Final = 10_000


# Prepended to a Lua script that changes a node's status, so the change and its
# announcement are one atomic step: no transition can be made and then lost
# because the publish after it failed. ``log`` is the event log key (pass it
# in KEYS). The data is the same JSON object publish_update writes.
ANNOUNCE_NODE_STATUS_LUA: Final = f"""
local function announce_node_status(log, id, status)
  redis.call('XADD', log, 'MAXLEN', '~', {HISTORY_LEN}, '*', 'type', 'node_status',
             'data', cjson.encode({{node_id = id, status = status}}))
end
"""


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


# What redis-py returns for XRANGE / XREVRANGE and per stream in XREAD, without decoding.
StreamEntries = list[tuple[bytes, dict[bytes, bytes]]]


def decode_entries(entries: StreamEntries) -> list[Event]:
    return [decode_entry(entry_id, fields) for entry_id, fields in entries]


async def edge_event_id(valkey: Redis, keys: Keys, *, newest: bool) -> str | None:
    """The id of the oldest (or newest) event still in the log."""
    log_key = keys.event_log()
    raw = await (valkey.xrevrange(log_key, count=1) if newest else valkey.xrange(log_key, count=1))
    entries = cast(StreamEntries, raw)
    return entries[0][0].decode() if entries else None


async def read_new_entries(
    valkey: Redis, keys: Keys, after_id: str, *, count: int, block_ms: int
) -> StreamEntries:
    """Block until events newer than ``after_id`` arrive (or ``block_ms`` passes)."""
    reply = await valkey.xread({keys.event_log(): after_id}, count=count, block=block_ms)
    streams = cast(list[tuple[bytes, StreamEntries]], reply or [])
    return [entry for _stream, entries in streams for entry in entries]


async def entries_after(valkey: Redis, keys: Keys, after_id: str, count: int) -> StreamEntries:
    """Raw log entries strictly newer than ``after_id``, oldest first."""
    entries = await valkey.xrange(keys.event_log(), min=f"({after_id}", count=count)
    return cast(StreamEntries, entries)


async def read_new_events(
    valkey: Redis, keys: Keys, after_id: str, *, count: int, block_ms: int
) -> list[Event]:
    """``read_new_entries``, decoded."""
    entries = await read_new_entries(valkey, keys, after_id, count=count, block_ms=block_ms)
    return decode_entries(entries)


async def events_after(valkey: Redis, keys: Keys, after_id: str, count: int) -> list[Event]:
    """``entries_after``, decoded."""
    return decode_entries(await entries_after(valkey, keys, after_id, count))


def sse_frame(entry_id: bytes, fields: Mapping[bytes, bytes]) -> bytes:
    """One Server-Sent Event, built from the log entry as stored.

    ``data`` is already compact one-line JSON (``publish_update`` wrote it), so
    a hive serving thousands of clients encodes each event once, not per client.
    """
    return (
        b"id: "
        + entry_id
        + b"\nevent: "
        + fields.get(b"type", b"message")
        + b"\ndata: "
        + fields.get(b"data", b"{}")
        + b"\n\n"
    )
