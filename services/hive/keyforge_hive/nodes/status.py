"""Node status: ``ready``, ``draining`` or ``down``, derived in Valkey and announced once.

Where each transition happens: a heartbeat (``ready``/``draining``, in
``heartbeats.py``'s script), the down sweep and an operator's drain (here).
Every one of them is a Lua script that compares with the status last
announced, so with many hives exactly one of them sees the change; that hive
hands it to :class:`StatusAnnouncer`, which queues it for Postgres
(``last_seen.py`` writes it on its next flush). The ``node_status`` event is
appended by the same script that makes the transition, so a transition is
never made without its announcement (no publish afterwards that could fail).
A node is ``down`` after TTL + grace without a heartbeat; a hive only
declares nodes down once it has itself been up for that long, so a restart
(or every hive being down for a while) never turns live nodes down before
they had a full window to beat again.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import asyncpg
from redis.asyncio import Redis

from keyforge_hive.nodes.heartbeats import StoredBeat
from keyforge_hive.nodes.last_seen import LastSeenFlusher
from keyforge_shared.events import ANNOUNCE_NODE_STATUS_LUA
from keyforge_shared.keys import Keys
from keyforge_shared.lua import with_server_now

log = logging.getLogger(__name__)

SWEEP_LIMIT = 1000

# KEYS: live index, status, event log. ARGV: down-after (ms), max nodes per sweep.
DOWN_SWEEP_SCRIPT = ANNOUNCE_NODE_STATUS_LUA + with_server_now("""
local stale = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[1]),
                         'LIMIT', 0, tonumber(ARGV[2]))
local changed = {}
for _, id in ipairs(stale) do
  redis.call('ZREM', KEYS[1], id)
  if redis.call('HGET', KEYS[2], id) ~= 'down' then
    redis.call('HSET', KEYS[2], id, 'down')
    announce_node_status(KEYS[3], id, 'down')
    changed[#changed + 1] = id
  end
end
return changed
""")

# KEYS: drained set, status, event log. ARGV: node id, 1 to drain / 0 to undrain.
# Returns the node's status and 1 if it changed (and was announced).
DRAIN_SCRIPT = (
    ANNOUNCE_NODE_STATUS_LUA
    + """
if ARGV[2] == '1' then redis.call('SADD', KEYS[1], ARGV[1])
else redis.call('SREM', KEYS[1], ARGV[1]) end
local current = redis.call('HGET', KEYS[2], ARGV[1])
if not current or current == 'down' then return {current or 'down', 0} end
local want = 'ready'
if ARGV[2] == '1' then want = 'draining' end
if current == want then return {want, 0} end
redis.call('HSET', KEYS[2], ARGV[1], want)
announce_node_status(KEYS[3], ARGV[1], want)
return {want, 1}
"""
)

# KEYS: epoch, live index, status, drained set. ARGV: epoch token, then id/status/drained triples.
# Seeds the live index as "seen now" so no reseeded node goes down before a full window.
RESEED_SCRIPT = with_server_now("""
if redis.call('SET', KEYS[1], ARGV[1], 'NX') == false then return 0 end
for i = 2, #ARGV, 3 do
  local id = ARGV[i]
  if ARGV[i + 1] ~= 'down' then
    redis.call('ZADD', KEYS[2], 'NX', now, id)
    redis.call('HSETNX', KEYS[3], id, ARGV[i + 1])
  end
  if ARGV[i + 2] == '1' then redis.call('SADD', KEYS[4], id) end
end
return 1
""")


StatusListener = Callable[[str, str], None]


@dataclass
class NodeStatusTracker:
    valkey: Redis
    keys: Keys
    pool: asyncpg.Pool
    down_after_s: Callable[[], int]
    on_change: StatusListener
    started_at: float = field(default_factory=time.monotonic)

    def __post_init__(self) -> None:
        self._sweep = self.valkey.register_script(DOWN_SWEEP_SCRIPT)
        self._drain = self.valkey.register_script(DRAIN_SCRIPT)
        self._reseed = self.valkey.register_script(RESEED_SCRIPT)

    async def tick(self) -> None:
        """One monitor iteration: re-seed after a Valkey data loss, then sweep."""
        if not await self.valkey.exists(self.keys.fleet_epoch()):
            await self.reseed_from_postgres()
        if time.monotonic() - self.started_at < self.down_after_s():
            return
        down_ms = self.down_after_s() * 1000
        while True:
            changed = await self._sweep(
                keys=[self.keys.live_nodes(), self.keys.node_status(), self.keys.event_log()],
                args=[down_ms, SWEEP_LIMIT],
            )
            for raw in changed:
                self.on_change(raw.decode(), "down")
            if len(changed) < SWEEP_LIMIT:
                return

    async def reseed_from_postgres(self) -> None:
        rows = await self.pool.fetch("SELECT node_id, status, drained FROM nodes")
        args: list[str] = [secrets.token_hex(8)]
        for row in rows:
            args += [row["node_id"], row["status"], "1" if row["drained"] else "0"]
        seeded = await self._reseed(
            keys=[
                self.keys.fleet_epoch(),
                self.keys.live_nodes(),
                self.keys.node_status(),
                self.keys.drained_nodes(),
            ],
            args=args,
        )
        if seeded:
            log.info("fleet state (re)seeded in Valkey from %d known nodes", len(rows))

    async def set_drained(self, node_id: str, drained: bool) -> str:
        """Operator drain/undrain; returns the node's status afterwards."""
        status, changed = await self._drain(
            keys=[self.keys.drained_nodes(), self.keys.node_status(), self.keys.event_log()],
            args=[node_id, "1" if drained else "0"],
        )
        status_text = status.decode() if isinstance(status, bytes) else str(status)
        if changed:
            self.on_change(node_id, status_text)
        return status_text


@dataclass
class StatusAnnouncer:
    """The one path of a status change to Postgres (via the flusher).

    The event bus has it already: the Lua script that made the transition
    appended its ``node_status`` event in the same atomic step.
    """

    flusher: LastSeenFlusher

    def node_status_changed(self, node_id: str, status: str) -> None:
        self.flusher.status_changed(node_id, status)

    def beats_stored(self, beats: list[StoredBeat], now_ms: int) -> None:
        """A heartbeat batch is in Valkey: last-seen for Postgres, and its status changes."""
        for beat in beats:
            self.flusher.saw(beat.node_id, now_ms)
            if beat.new_status is not None:
                self.node_status_changed(beat.node_id, beat.new_status)
