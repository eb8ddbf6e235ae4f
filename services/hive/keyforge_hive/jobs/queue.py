"""``GET /jobs/queue``: the long poll that waits for leasable work without spinning.

A poll that finds nothing waits on this hive's ``WorkSignal``, which wakes it
when work may have appeared for it: a ``job_status`` event (a job created or
resumed, through any hive) or a ``fleet_freeze`` one wakes every poll, a
``node_status`` one (the node undrained or back) only that node's, all read
from the shared event log by the fan-out (``woken_by``); and the moment the
next lease in the fleet (or a freeze with an end) ends. Between those it
sleeps, re-checking at most every ``RECHECK_S`` in case an event was missed.

The dispatch freeze: while its key exists no poll gets a lease. A poll that
arrives during a freeze waits as any other (so frozen nodes do not spin); a
poll already waiting when a freeze begins answers "nothing" at once.

The queue of leasable jobs lives in Valkey and is derived from Postgres:
jobs enter it when created or resumed and leave it when paused or
cancelled, and ``sync_queue`` (every few seconds, on every hive) puts back
whatever Valkey lost and drops what is no longer active.
"""

from __future__ import annotations

import asyncio
import enum
import json
import logging
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import cast

import asyncpg
from redis.asyncio import Redis

from keyforge_hive.events.fanout import EventFanout, Subscriber
from keyforge_hive.jobs.leases import Lease, Leaser
from keyforge_shared.keys import Keys
from keyforge_shared.loops import consume
from keyforge_shared.lua import with_server_now

log = logging.getLogger(__name__)

MAX_WAIT_S = 20.0
RECHECK_S = 5.0
EXPIRY_SLACK_S = 0.05  # wake just after the mark's TTL ran out, not just before
EXPIRY_INDEX_KEEP_MS = 60_000
WAKING_EVENTS = frozenset({b"job_status", b"node_status", b"fleet_freeze"})

# KEYS: lease expiries. Returns ms until the next lease in the fleet ends, or -1.
NEXT_EXPIRY = with_server_now("""
local first = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. now, '+inf', 'WITHSCORES', 'LIMIT', 0, 1)
if #first == 0 then return -1 end
return tonumber(first[2]) - now
""")


def event_type(wire: bytes) -> bytes:
    """The ``event:`` field of one SSE frame as the fan-out delivers it."""
    _, _, rest = wire.partition(b"\nevent: ")
    return rest.partition(b"\n")[0]


EVERY_NODE = ""  # ``woken_by``: the event may have made work for every node


def woken_by(wire: bytes) -> str | None:
    """Whose waiting polls an event may have given work: ``EVERY_NODE`` for a job created
    or resumed and for a freeze set or lifted, a node's id when that node turned ready,
    None for the rest (a job paused or ended, a node leaving, records, ...).

    Narrow on purpose: with a thousand nodes polling, an event that woke every
    poll would cost thousands of store round trips, and the nodes' own status
    changes alone come by the thousand when a fleet arrives at once.
    """
    kind = event_type(wire)
    if kind not in WAKING_EVENTS:
        return None
    if kind == b"fleet_freeze":
        return EVERY_NODE
    try:
        data = json.loads(wire.partition(b"\ndata: ")[2])
    except ValueError:
        return EVERY_NODE  # unreadable: waking too many polls is safe, too few is not
    if not isinstance(data, dict) or data.get("status") not in ("active", "ready"):
        return None
    if kind == b"job_status":
        return EVERY_NODE if data["status"] == "active" else None
    node_id = data.get("node_id")
    return node_id if data["status"] == "ready" and isinstance(node_id, str) and node_id else None


class WorkSignal:
    """Wakes waiting polls: every one of this hive's, or one node's; a wake-up is never lost.

    A poll takes ``armed(node_id)`` before it looks for work and waits on it
    after: a notification in between has already set that event. The polls of
    one node share an event, kept only while some poll holds it.
    """

    def __init__(self) -> None:
        self._waiting: weakref.WeakValueDictionary[str, asyncio.Event] = (
            weakref.WeakValueDictionary()
        )

    def armed(self, node_id: str) -> asyncio.Event:
        event = self._waiting.get(node_id)
        if event is None:
            event = self._waiting[node_id] = asyncio.Event()
        return event

    def notify(self, node_id: str = EVERY_NODE) -> None:
        """Wake ``node_id``'s polls, or every poll (``EVERY_NODE``)."""
        if node_id == EVERY_NODE:
            woken = list(self._waiting.values())
            self._waiting.clear()
        else:
            event = self._waiting.pop(node_id, None)
            woken = [] if event is None else [event]
        for event in woken:
            event.set()


class NodeGate(enum.Enum):
    READY = "ready"
    WAIT = "wait"  # draining or without a live heartbeat: no new work for now
    FROZEN = "frozen"  # the fleet-wide dispatch freeze: no new work for anyone
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class GateReading:
    gate: NodeGate
    freeze_ends_in_ms: int | None = None  # a freeze with an end: how long until it ends


async def node_gate(valkey: Redis, keys: Keys, node_id: str) -> GateReading:
    """One round trip: the node's standing and the fleet's freeze."""
    async with valkey.pipeline(transaction=False) as pipe:
        pipe.hexists(keys.node_registry(), node_id)
        pipe.hget(keys.node_status(), node_id)
        pipe.sismember(keys.drained_nodes(), node_id)
        pipe.pttl(keys.fleet_freeze())
        known, status, drained, freeze_ttl = await pipe.execute()
    if not known:
        return GateReading(NodeGate.UNKNOWN)
    if freeze_ttl != -2:  # -2: no such key, not frozen; -1: frozen with no end
        return GateReading(NodeGate.FROZEN, freeze_ttl if freeze_ttl >= 0 else None)
    return GateReading(NodeGate.READY if status == b"ready" and not drained else NodeGate.WAIT)


async def always(_: str) -> bool:
    return True


@dataclass
class JobQueue:
    valkey: Redis
    keys: Keys
    pool: asyncpg.Pool
    leaser: Leaser
    # The node's own config (paused, max_leases) may refuse it new work: the fleet plane says.
    may_lease: Callable[[str], Awaitable[bool]] = always
    signal: WorkSignal = field(default_factory=WorkSignal)

    stopping: bool = False

    def __post_init__(self) -> None:
        self._next_expiry = self.valkey.register_script(NEXT_EXPIRY)

    def stop(self) -> None:
        """The hive is shutting down: every waiting poll answers "nothing" now, so none
        is cut off when the server stops serving."""
        self.stopping = True
        self.signal.notify()

    async def enqueue(self, job_id: str) -> None:
        # Score 0: a new or resumed job is offered before those already served.
        await self.valkey.zadd(self.keys.job_queue(), {job_id: 0}, nx=True)
        self.signal.notify()

    async def dequeue(self, job_id: str) -> None:
        await self.valkey.zrem(self.keys.job_queue(), job_id)

    async def wait_for_lease(
        self, node_id: str, wait_s: float, gone: Callable[[], Awaitable[bool]]
    ) -> Lease | None:
        """A lease for ``node_id`` within ``wait_s`` seconds, or None. Raises LookupError
        for a node this fleet does not know (it must register)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + min(wait_s, MAX_WAIT_S)
        frozen_before: bool | None = None
        while True:
            wake = self.signal.armed(node_id)
            if self.stopping:
                return None
            reading = await node_gate(self.valkey, self.keys, node_id)
            gate = reading.gate
            if gate is NodeGate.UNKNOWN:
                raise LookupError(node_id)
            if gate is NodeGate.FROZEN and frozen_before is False:
                return None  # the freeze began while this poll waited
            frozen_before = gate is NodeGate.FROZEN
            if gate is NodeGate.READY and await self.may_lease(node_id):
                if await gone():
                    return None  # nobody would receive the lease: leave the slot free
                lease = await self.leaser.lease_job(node_id)
                if lease is not None:
                    return lease
            remaining = deadline - loop.time()
            if remaining <= 0:
                return None
            pause = min(remaining, RECHECK_S)
            until_expiry = int(await self._next_expiry(keys=[self.keys.lease_expiries()]))
            if until_expiry >= 0:
                pause = min(pause, until_expiry / 1000 + EXPIRY_SLACK_S)
            if reading.freeze_ends_in_ms is not None:
                pause = min(pause, reading.freeze_ends_in_ms / 1000 + EXPIRY_SLACK_S)
            try:
                async with asyncio.timeout(pause):
                    await wake.wait()
            except TimeoutError:
                pass
            if self.stopping:
                return None

    async def relay_wakeups(self, fanout: EventFanout) -> None:
        """Background task: fleet events that may make work leasable wake the polls here.

        A consumer (:func:`keyforge_shared.loops.consume`) of this hive's fan-out,
        subscribed like an SSE client; a stream the fan-out ends (it was too slow,
        or the hive drains) is replaced by a new one.
        """
        subscriber: Subscriber | None = None

        async def relay_one() -> None:
            nonlocal subscriber
            if subscriber is None:
                subscriber = fanout.subscribe()
            frame = await subscriber.queue.get()
            if frame is None:
                fanout.unsubscribe(subscriber)
                subscriber = None
            elif (whose := woken_by(frame.wire)) is not None:
                self.signal.notify(whose)

        try:
            await consume("job wake-up relay", relay_one)
        finally:
            if subscriber is not None:
                fanout.unsubscribe(subscriber)

    async def sync_queue(self) -> None:
        """One reconciliation of the Valkey queue with the jobs Postgres holds active."""
        active = [r["job_id"] for r in await self.pool.fetch(ACTIVE_SQL)]
        if active:
            await self.valkey.zadd(self.keys.job_queue(), dict.fromkeys(active, 0), nx=True)
        raw = cast(list[bytes], await self.valkey.zrange(self.keys.job_queue(), 0, -1))
        queued = [member.decode() for member in raw]
        # Queried after reading the queue: every member was committed before it was queued.
        still = {r["job_id"] for r in await self.pool.fetch(STILL_ACTIVE_SQL, queued)}
        stale = [member for member in queued if member not in still]
        if stale:
            await self.valkey.zrem(self.keys.job_queue(), *stale)
        seconds, micros = await self.valkey.time()
        cutoff = seconds * 1000 + micros // 1000 - EXPIRY_INDEX_KEEP_MS
        await self.valkey.zremrangebyscore(self.keys.lease_expiries(), "-inf", cutoff)


ACTIVE_SQL = "SELECT job_id FROM jobs WHERE status = 'active'"
STILL_ACTIVE_SQL = "SELECT job_id FROM jobs WHERE job_id = ANY($1::text[]) AND status = 'active'"
