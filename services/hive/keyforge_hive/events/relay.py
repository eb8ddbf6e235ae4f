"""The asset manager's ``asset_update`` events, copied into the event log exactly once.

The asset manager may not write the event log (it could forge job or node
events there); it appends to its own asset-plane stream instead. Every hive's
event reader calls ``relay_asset_events`` before it waits: one Lua script
copies the entries after the remembered last-copied id and advances that id,
atomically, so however many hives call it each entry is copied once.

Only well-formed ``asset_update`` entries are copied, with just their
``type`` and ``data``: ``data`` must be a JSON object on one line, since the
hives write it into SSE frames as stored and a line break there could frame
a forged event. Anything else is skipped (and the cursor moves past it).
"""

from __future__ import annotations

from typing import Final

from redis.asyncio import Redis

from keyforge_shared.events import HISTORY_LEN
from keyforge_shared.keys import Keys

# Entries copied per call; a longer backlog takes a few calls, in order.
RELAY_BATCH: Final = 500

# KEYS: the event log, the cursor. ARGV: the asset stream, batch size, log length.
# The asset stream is an argument, not a key: Valkey's ACL treats every EVAL key
# as read-write, and the hives may only read the asset plane (the XRANGE inside
# is still checked against that read right). Returns the cursor after this call.
RELAY_SCRIPT: Final = """
local cursor = redis.call('GET', KEYS[2]) or '0-0'
local entries = redis.call('XRANGE', ARGV[1], '(' .. cursor, '+', 'COUNT', ARGV[2])
for _, entry in ipairs(entries) do
  local kind, data
  local fields = entry[2]
  for i = 1, #fields, 2 do
    if fields[i] == 'type' then kind = fields[i + 1]
    elseif fields[i] == 'data' then data = fields[i + 1] end
  end
  if kind == 'asset_update' and data and not string.find(data, '[\\r\\n]') then
    local ok, decoded = pcall(cjson.decode, data)
    if ok and type(decoded) == 'table' and string.sub(data, 1, 1) == '{' then
      redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[3], '*', 'type', kind, 'data', data)
    end
  end
  cursor = entry[1]
end
if #entries > 0 then redis.call('SET', KEYS[2], cursor) end
return cursor
"""


class AssetRelay:
    def __init__(self, valkey: Redis, keys: Keys) -> None:
        self.keys = keys
        self._script = valkey.register_script(RELAY_SCRIPT)

    async def relay(self) -> str:
        """Copy what is new on the asset stream into the log; the asset id reached."""
        cursor = await self._script(
            keys=[self.keys.event_log(), self.keys.asset_events_relayed()],
            args=[self.keys.asset_events(), RELAY_BATCH, HISTORY_LEN],
        )
        return cursor.decode() if isinstance(cursor, bytes) else str(cursor)
