"""``update_heartbeat``: coalesce concurrent heartbeats into one atomic Valkey script call.

Heartbeats queue up while the previous batch is on its way to Valkey, and
leave together as one Lua script call (one round trip) that, per node, checks
the node is registered, stores its telemetry with the TTL, moves it up in the
live index and derives its status. The node's token is checked in the same
script: the registry holds its hash beside the node id, so a beat costs no
Postgres round trip and writes no Postgres. Batches therefore grow with load by
themselves, with no timer adding latency when the fleet is quiet. Each request
is answered only after the script that stored its heartbeat returned: nothing
is acknowledged that is not in Valkey. A failure fails every heartbeat of its
batch (503; the node retries).

The same script integrates each node's reported ``ips`` over its live time
into a pending work-units hash (the beat's ``ips`` times the time since the
node's previous beat, at most one TTL: a gap longer than that was downtime).
:mod:`keyforge_hive.records.work_units` moves the sums to Postgres now and
then, so counting work adds no round trip and no SQL to a heartbeat.
"""

from __future__ import annotations

import asyncio
import enum
from collections.abc import Callable
from dataclasses import dataclass, field

from redis.asyncio import Redis

from keyforge_shared.events import ANNOUNCE_NODE_STATUS_LUA
from keyforge_shared.keys import Keys
from keyforge_shared.loops import consume
from keyforge_shared.lua import with_server_now

MAX_BATCH = 512
# Batches in flight at once: one filling while one is on the wire keeps Valkey
# busy without letting batches shrink to single heartbeats.
FLUSHERS = 2

# KEYS: registry, live index, status, drained set, event log, pending work units, then one
# telemetry key per beat.
# ARGV: ttl seconds, then node id, token hash (hex; empty: the admin, unchecked) and
# telemetry (starting with "<ips>|") per beat.
# Returns: server time (ms) and, per beat, 0 unknown / -1 not this node's token /
# 1 stored / the new status if it changed.
# A status change is announced on the event log by the script itself.
HEARTBEAT_SCRIPT = ANNOUNCE_NODE_STATUS_LUA + with_server_now("""
local ttl = ARGV[1]
local out = {}
for i = 1, #KEYS - 6 do
  local id = ARGV[3 * i - 1]
  local want_hash = ARGV[3 * i]
  local known = redis.call('HGET', KEYS[1], id)
  if not known then
    out[i] = 0
  elseif want_hash ~= '' and known ~= want_hash then
    out[i] = -1
  else
    local telemetry = ARGV[3 * i + 1]
    local previous = redis.call('ZSCORE', KEYS[2], id)
    local ips = tonumber(string.match(telemetry, '^[^|]*')) or 0
    if previous and ips > 0 then
      local live_s = math.min(now - tonumber(previous), tonumber(ttl) * 1000) / 1000
      if live_s > 0 then redis.call('HINCRBYFLOAT', KEYS[6], id, ips * live_s) end
    end
    redis.call('SET', KEYS[6 + i], telemetry, 'EX', ttl)
    redis.call('ZADD', KEYS[2], now, id)
    local want = 'ready'
    if redis.call('SISMEMBER', KEYS[4], id) == 1 then want = 'draining' end
    if redis.call('HGET', KEYS[3], id) ~= want then
      redis.call('HSET', KEYS[3], id, want)
      announce_node_status(KEYS[5], id, want)
      out[i] = want
    else
      out[i] = 1
    end
  end
end
return {now, out}
""")


class BeatOutcome(enum.IntEnum):
    WRONG_TOKEN = -1
    UNKNOWN_NODE = 0
    STORED = 1
    STATUS_CHANGED = 2


@dataclass
class _Beat:
    node_id: str
    telemetry: bytes
    token_hash: str  # hex; empty for the admin and the hive itself: not checked
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
    _wakeup: asyncio.Event = field(default_factory=asyncio.Event)
    beats: int = 0
    batches: int = 0

    def __post_init__(self) -> None:
        self._script = self.valkey.register_script(HEARTBEAT_SCRIPT)

    async def update_heartbeat(
        self, node_id: str, telemetry: bytes, token_hash: bytes | None
    ) -> BeatOutcome:
        """Store one beat; ``token_hash`` must be the node's (None: not checked)."""
        digest = token_hash.hex() if token_hash is not None else ""
        beat = _Beat(node_id, telemetry, digest, asyncio.get_running_loop().create_future())
        self._pending.append(beat)
        self._wakeup.set()
        return await beat.done

    async def run(self) -> None:
        """The flushers, consumers of the pending beats; a background task for the app's life."""
        flushers = (consume(f"heartbeat flusher {i}", self._flush_pending) for i in range(FLUSHERS))
        try:
            await asyncio.gather(*flushers)
        finally:
            # Stopping: whoever still waits gets an answer (a 503), not a hang.
            for beat in self._pending:
                if not beat.done.done():
                    beat.done.set_exception(ConnectionError("hive is shutting down"))
            self._pending.clear()

    async def _flush_pending(self) -> None:
        """Wait for beats (unless some are left from a failed pass), then send them all."""
        if not self._pending:
            await self._wakeup.wait()
        self._wakeup.clear()
        while self._pending:
            batch = self._pending[:MAX_BATCH]
            del self._pending[:MAX_BATCH]
            await self._flush(batch)

    async def _flush(self, batch: list[_Beat]) -> None:
        keys = [
            self.keys.node_registry(),
            self.keys.live_nodes(),
            self.keys.node_status(),
            self.keys.drained_nodes(),
            self.keys.event_log(),
            self.keys.pending_work_units(),
        ]
        keys += [self.keys.heartbeat(b.node_id) for b in batch]
        args: list[str | bytes | int] = [self.ttl_s()]
        for beat in batch:
            args += [beat.node_id, beat.token_hash, beat.telemetry]
        try:
            now_ms, codes = await self._script(keys=keys, args=args)
        except Exception as exc:
            for beat in batch:
                if not beat.done.done():
                    beat.done.set_exception(exc)
            return
        self.batches += 1
        self.beats += len(batch)
        stored: list[StoredBeat] = []
        for beat, code in zip(batch, codes, strict=True):
            if code == 0:
                outcome = BeatOutcome.UNKNOWN_NODE
            elif code == -1:
                outcome = BeatOutcome.WRONG_TOKEN
            elif code == 1:
                outcome = BeatOutcome.STORED
                stored.append(StoredBeat(beat.node_id, None))
            else:
                outcome = BeatOutcome.STATUS_CHANGED
                stored.append(StoredBeat(beat.node_id, code.decode()))
            if not beat.done.done():
                beat.done.set_result(outcome)
        self.on_stored(stored, int(now_ms))
