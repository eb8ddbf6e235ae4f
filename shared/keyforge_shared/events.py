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
    """Put one event on the bus (the hives' own log); returns its id."""
    return await _append(valkey, keys.event_log(), event_type, data)


async def publish_asset_update(valkey: Redis, keys: Keys, data: Mapping[str, Any]) -> str:
    """The asset manager's ``asset_update``: on its own stream, which the hives relay
    into the event log (the same fields, so the same event) and the gateway follows."""
    return await _append(valkey, keys.asset_events(), "asset_update", data)


async def _append(
    valkey: Redis, stream: str, event_type: EventType, data: Mapping[str, Any]
) -> str:
    entry_id = await valkey.xadd(
        stream,
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
    valkey: Redis,
    keys: Keys,
    after_id: str,
    *,
    count: int,
    block_ms: int,
    stream: str | None = None,
    wake_on: tuple[str, str] | None = None,
) -> StreamEntries:
    """Block until events newer than ``after_id`` arrive (or ``block_ms`` passes).

    ``stream`` is the event log unless told; ``wake_on`` (another stream, an
    id) also ends the wait when that stream grows past the id, without
    returning its entries.
    """
    log = stream or keys.event_log()
    streams = {log: after_id}
    if wake_on is not None:
        streams[wake_on[0]] = wake_on[1]
    reply = await valkey.xread(streams, count=count, block=block_ms)  # type: ignore[arg-type]
    found = cast(list[tuple[bytes, StreamEntries]], reply or [])
    wanted = log.encode()
    return [entry for name, entries in found if name == wanted for entry in entries]


async def entries_after(
    valkey: Redis, keys: Keys, after_id: str, count: int, *, stream: str | None = None
) -> StreamEntries:
    """Raw log entries (or ``stream``'s) strictly newer than ``after_id``, oldest first."""
    entries = await valkey.xrange(stream or keys.event_log(), min=f"({after_id}", count=count)
    return cast(StreamEntries, entries)


async def read_new_events(
    valkey: Redis,
    keys: Keys,
    after_id: str,
    *,
    count: int,
    block_ms: int,
    stream: str | None = None,
) -> list[Event]:
    """``read_new_entries``, decoded."""
    entries = await read_new_entries(
        valkey, keys, after_id, count=count, block_ms=block_ms, stream=stream
    )
    return decode_entries(entries)


async def events_after(
    valkey: Redis, keys: Keys, after_id: str, count: int, *, stream: str | None = None
) -> list[Event]:
    """``entries_after``, decoded."""
    return decode_entries(await entries_after(valkey, keys, after_id, count, stream=stream))


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
