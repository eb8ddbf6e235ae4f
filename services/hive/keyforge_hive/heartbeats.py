"""``update_heartbeat``: coalesce concurrent heartbeats into one atomic Valkey script call.

Every heartbeat arriving in the same event-loop turn joins one batch; the
batch runs as one Lua script (one round trip) that, per node, checks the node
is registered, stores its telemetry with the TTL, moves it up in the live
index and derives its status. Each request is answered only after the script
that stored its heartbeat returned: nothing is acknowledged that is not in
Valkey. A failure fails every heartbeat of the batch (503; the node retries).
"""

from __future__ import annotations

import asyncio
import enum
from collections.abc import Callable
from dataclasses import dataclass, field

from redis.asyncio import Redis

from keyforge_shared.keys import Keys

MAX_BATCH = 512

# KEYS: registry, live index, status, drained set, then one telemetry key per beat.
# ARGV: ttl seconds, then node id and telemetry per beat.
# Returns: server time (ms) and, per beat, 0 unknown / 1 stored / the new status if it changed.
HEARTBEAT_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = ARGV[1]
local out = {}
for i = 1, #KEYS - 4 do
  local id = ARGV[2 * i]
  if redis.call('HEXISTS', KEYS[1], id) == 0 then
    out[i] = 0
  else
    redis.call('SET', KEYS[4 + i], ARGV[2 * i + 1], 'EX', ttl)
    redis.call('ZADD', KEYS[2], now, id)
    local want = 'ready'
    if redis.call('SISMEMBER', KEYS[4], id) == 1 then want = 'draining' end
    if redis.call('HGET', KEYS[3], id) ~= want then
      redis.call('HSET', KEYS[3], id, want)
      out[i] = want
    else
      out[i] = 1
    end
  end
end
return {now, out}
"""


class BeatOutcome(enum.IntEnum):
    UNKNOWN_NODE = 0
    STORED = 1
    STATUS_CHANGED = 2


@dataclass
class _Beat:
    node_id: str
    telemetry: bytes
    done: asyncio.Future[BeatOutcome]


@dataclass(frozen=True, slots=True)
class StoredBeat:
    node_id: str
    new_status: str | None  # set when this beat changed the node's status


StoredCallback = Callable[[list[StoredBeat], int], None]


@dataclass
class HeartbeatBatcher:
    valkey: Redis
    keys: Keys
    ttl_s: Callable[[], int]
    on_stored: StoredCallback
    _pending: list[_Beat] = field(default_factory=list)
    _scheduled: bool = False
    _flushes: set[asyncio.Task[None]] = field(default_factory=set)

    def __post_init__(self) -> None:
        self._script = self.valkey.register_script(HEARTBEAT_SCRIPT)

    async def update_heartbeat(self, node_id: str, telemetry: bytes) -> BeatOutcome:
        loop = asyncio.get_running_loop()
        beat = _Beat(node_id, telemetry, loop.create_future())
        self._pending.append(beat)
        if not self._scheduled:
            self._scheduled = True
            loop.call_soon(self._start_flush)
        return await beat.done

    def _start_flush(self) -> None:
        self._scheduled = False
        pending, self._pending = self._pending, []
        for start in range(0, len(pending), MAX_BATCH):
            task = asyncio.create_task(self._flush(pending[start : start + MAX_BATCH]))
            self._flushes.add(task)
            task.add_done_callback(self._flushes.discard)

    async def _flush(self, batch: list[_Beat]) -> None:
        keys = [
            self.keys.node_registry(),
            self.keys.live_nodes(),
            self.keys.node_status(),
            self.keys.drained_nodes(),
        ]
        keys += [self.keys.heartbeat(b.node_id) for b in batch]
        args: list[str | bytes | int] = [self.ttl_s()]
        for beat in batch:
            args += [beat.node_id, beat.telemetry]
        try:
            now_ms, codes = await self._script(keys=keys, args=args)
        except Exception as exc:
            for beat in batch:
                if not beat.done.done():
                    beat.done.set_exception(exc)
            return
        stored: list[StoredBeat] = []
        for beat, code in zip(batch, codes, strict=True):
            if code == 0:
                outcome = BeatOutcome.UNKNOWN_NODE
            elif code == 1:
                outcome = BeatOutcome.STORED
                stored.append(StoredBeat(beat.node_id, None))
            else:
                outcome = BeatOutcome.STATUS_CHANGED
                stored.append(StoredBeat(beat.node_id, code.decode()))
            if not beat.done.done():
                beat.done.set_result(outcome)
        self.on_stored(stored, int(now_ms))

    async def drain(self) -> None:
        """Wait for batches in flight (shutdown)."""
        if self._flushes:
            await asyncio.gather(*self._flushes, return_exceptions=True)
