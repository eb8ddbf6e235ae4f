"""One reader of the event log per hive, fanned out to every SSE client of that hive.

The shared reader never waits for a client: each client has a bounded queue,
and a client whose queue is full is dropped (it reconnects with
``Last-Event-ID`` and is replayed). So a slow browser can never back up the
hive's one Valkey connection, nor slow down the other clients.

New events reach the clients ``SLICE`` at a time. Each client's write costs
its socket write here, then a proxy thread's wake-up and TLS write, then the
browser's read: about 0.15 ms of CPU in all. A thousand clients written at
once would make a thousand proxy threads runnable together, and every
heartbeat arriving in that moment would queue behind them. So a pass is
spread over most of the time since the previous one (``SPREAD_SHARE``, at
most ``SPREAD_MAX_S``): at one event a second, 800 ms, and the machine keeps
room for requests throughout; an event reaches a dashboard up to 0.8 s later.
Through Apache, with 2 000 streams at one event a second, delivering the
events (not holding the streams) is what grows the heartbeat tail, and
spreading them thinner shrinks it (infra/apache/README.md has the numbers).
Passes less than ``SPREAD_FROM_S`` apart are not spread: the load they make
has no quiet moments left to move into, and spreading would only delay them.
The log is read while a pass is under way, and the moment a new event
arrives the pass stops spreading and finishes at once, so a burst after a
quiet spell is never held back. The live view is best-effort and the control
plane is not: the view yields. Events that arrive while a pass is under way
leave together on the next pass (one write per client), so a faster event
rate makes bigger writes, not a longer queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from dataclasses import dataclass, field

from redis.asyncio import Redis

from keyforge_hive.events.relay import AssetRelay
from keyforge_shared.events import edge_event_id, read_new_entries, sse_frame
from keyforge_shared.keys import Keys
from keyforge_shared.loops import consume

CLIENT_QUEUE = 1024
SLICE = 10
SPREAD_SHARE = 0.8
SPREAD_MAX_S = 0.8
SPREAD_FROM_S = 0.25
# Below this a slice's wait is only a turn of the loop (timers are millisecond-grained).
MIN_WAIT_S = 0.001
READ_BLOCK_MS = 5000
READ_COUNT = 500
RETRY_S = 0.5


@dataclass(frozen=True, slots=True)
class Frame:
    """One event ready for the wire, encoded once for every client."""

    id: str
    order: tuple[int, int]
    wire: bytes


def frame_of(entry_id: bytes, fields: dict[bytes, bytes]) -> Frame:
    event_id = entry_id.decode()
    return Frame(event_id, id_key(event_id), sse_frame(entry_id, fields))


# Sent to every client every KEEPALIVE_S so proxies keep idle streams open. It
# has no id: it is never replayed and never skipped as already seen.
KEEPALIVE = Frame("", (0, 0), b": keepalive\n\n")
KEEPALIVE_S = 15.0


@dataclass(eq=False)
class Subscriber:
    """A client's bounded queue; ``None`` in it means "stop streaming"."""

    queue: asyncio.Queue[Frame | None] = field(default_factory=lambda: asyncio.Queue(CLIENT_QUEUE))
    streamer: asyncio.Task[object] | None = None  # the task writing to this client

    def close(self) -> None:
        # Whatever it had buffered is discarded: it resumes from Last-Event-ID.
        while not self.queue.empty():
            self.queue.get_nowait()
        self.queue.put_nowait(None)

    def abort(self) -> None:
        """Dropped for not reading: its writer may be stuck on a full socket, so it is
        cancelled rather than asked to stop."""
        self.close()
        if self.streamer is not None:
            self.streamer.cancel()


def id_key(event_id: str) -> tuple[int, int]:
    """Stream ids compare as (milliseconds, sequence)."""
    ms, _, seq = event_id.partition("-")
    return int(ms), int(seq or 0)


@dataclass
class EventFanout:
    reader: Redis  # a dedicated connection: it blocks in XREAD
    keys: Keys
    subscribers: set[Subscriber] = field(default_factory=set)
    delivered: int = 0
    dropped_clients: int = 0
    last_id: str | None = None  # where the reader is in the log; None: not started
    last_pass: float | None = None  # when the previous pass began (monotonic)
    pending: list[Frame] = field(default_factory=list)  # read, not yet offered
    arrived: asyncio.Event = field(default_factory=asyncio.Event)  # pending is not empty
    relay: AssetRelay | None = None  # the asset manager's events, copied into the log

    def subscribe(self) -> Subscriber:
        subscriber = Subscriber()
        self.subscribers.add(subscriber)
        return subscriber

    def unsubscribe(self, subscriber: Subscriber) -> None:
        self.subscribers.discard(subscriber)

    def close_all(self) -> None:
        """End every stream now (shutdown): clients reconnect to another hive and resume
        from their Last-Event-ID instead of waiting out the server's grace period."""
        for subscriber in list(self.subscribers):
            self.subscribers.discard(subscriber)
            subscriber.close()

    async def offer(self, frames: list[Frame]) -> None:
        """Queue ``frames`` for every client, ``SLICE`` clients at a time, spread over part
        of the time since the previous pass (module doc); a client that joins meanwhile
        starts after them (a reconnecting one replays them)."""
        subscribers = list(self.subscribers)
        started = time.monotonic()
        slices = (len(subscribers) - 1) // SLICE
        spread = self._spread(started)
        for index, subscriber in enumerate(subscribers):
            if index and index % SLICE == 0:
                due = started + spread * (index // SLICE) / slices
                await self._pause(due - time.monotonic())
            if subscriber in self.subscribers:  # not gone while an earlier slice was written
                self._queue(subscriber, frames)
        self.delivered += sum(1 for frame in frames if frame is not KEEPALIVE)

    async def _pause(self, wait: float) -> None:
        """Wait ``wait`` seconds between slices, or only a turn of the loop once new events
        are waiting for the next pass."""
        if wait < MIN_WAIT_S or self.arrived.is_set():
            await asyncio.sleep(0)
            return
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(wait):
                await self.arrived.wait()

    def _spread(self, now: float) -> float:
        """How long this pass may take: ``SPREAD_SHARE`` of the time since the previous one
        began, at most ``SPREAD_MAX_S``; none when that was under ``SPREAD_FROM_S``."""
        since = now - self.last_pass if self.last_pass is not None else math.inf
        self.last_pass = now
        return min(SPREAD_SHARE * since, SPREAD_MAX_S) if since >= SPREAD_FROM_S else 0.0

    def _queue(self, subscriber: Subscriber, frames: list[Frame]) -> None:
        for frame in frames:
            try:
                subscriber.queue.put_nowait(frame)
            except asyncio.QueueFull:
                if frame is KEEPALIVE:
                    continue  # it has events queued: they keep the stream warm
                self.subscribers.discard(subscriber)
                subscriber.abort()
                self.dropped_clients += 1
                return

    async def keepalive(self) -> None:
        """One keepalive comment to every client (a background loop every KEEPALIVE_S)."""
        await self.offer([KEEPALIVE])

    async def run(self) -> None:
        """Read the log from its current end and deliver what it holds until cancelled;
        survive Valkey restarts."""
        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(consume("event reader", self.read_once, retry_s=RETRY_S))
            tasks.create_task(self.deliver())

    async def deliver(self) -> None:
        """Offer what the reader has queued to every client, one pass at a time."""
        while True:
            await self.arrived.wait()
            self.arrived.clear()
            frames, self.pending = self.pending, []
            await self.offer(frames)

    async def read_once(self) -> None:
        """Relay the asset manager's new events into the log, then one ``XREAD`` (blocking
        ``READ_BLOCK_MS`` at most) whose log entries are queued for ``deliver``.

        The wait also ends when the asset stream grows past what was relayed, so
        the next call relays it at once (and this hive or another reads it back
        from the log)."""
        if self.last_id is None:
            self.last_id = await edge_event_id(self.reader, self.keys, newest=True) or "0-0"
        if self.relay is None:
            self.relay = AssetRelay(self.reader, self.keys)
        relayed = await self.relay.relay()
        entries = await read_new_entries(
            self.reader,
            self.keys,
            self.last_id,
            count=READ_COUNT,
            block_ms=READ_BLOCK_MS,
            wake_on=(self.keys.asset_events(), relayed),
        )
        frames = [frame_of(entry_id, fields) for entry_id, fields in entries]
        if frames:
            self.last_id = frames[-1].id
            self.pending.extend(frames)
            self.arrived.set()
