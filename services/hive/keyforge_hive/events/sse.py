"""``GET /events``: Server-Sent Events with replay from ``Last-Event-ID``.

A raw ASGI endpoint rather than a StreamingResponse, so the fan-out can end
a stream the moment it drops the client (its queue overflowed: the socket
stopped draining) and a write costs no more than the write itself: each
event is encoded once per hive, and what queued up while a client's last
write was going out leaves in one write.

One client address holds at most ``sse_streams_per_address`` streams across
the fleet (``limits``); one more is answered 429 with ``Retry-After``.
"""

from __future__ import annotations

import asyncio
import contextlib

from redis.asyncio import Redis
from starlette.types import Receive, Scope, Send

from keyforge_hive.events.fanout import EventFanout, Frame, Subscriber, frame_of, id_key
from keyforge_hive.events.limits import StreamLeases
from keyforge_shared.errors import STORE_DOWN_ERRORS, STORE_DOWN_RETRY_AFTER_S, error_response
from keyforge_shared.events import HISTORY_LEN, edge_event_id, entries_after
from keyforge_shared.keys import Keys
from keyforge_shared.strict_input import parse_uint

RETRY_MS = 2000
# A refused stream waits this long: slots free up only as other streams end.
CAP_RETRY_AFTER_S = 10
COALESCE_MAX = 64
HEADERS = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache, no-transform"),
    (b"x-accel-buffering", b"no"),
]


def _is_event_id(text: str) -> bool:
    """``<ms>-<seq>`` in ASCII digits that fit Valkey's 64-bit stream id parts."""
    ms, dash, seq = text.partition("-")
    return bool(dash) and parse_uint(ms) is not None and parse_uint(seq) is not None


def _last_event_id(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == b"last-event-id":
            header: str = value.decode("latin-1").strip()
            return header or None
    query = scope.get("query_string", b"").decode("latin-1")
    for pair in query.split("&"):
        key, _, value = pair.partition("=")
        if key == "last_event_id" and value:
            return str(value)
    return None


async def missed_since(valkey: Redis, keys: Keys, last_id: str) -> list[Frame] | None:
    """Events after ``last_id``, or None when some of them were already trimmed away."""
    oldest = await edge_event_id(valkey, keys, newest=False)
    missed = [frame_of(i, f) for i, f in await entries_after(valkey, keys, last_id, HISTORY_LEN)]
    # The oldest kept event is newer than the client's, and it is the first one
    # we would replay: whatever lay between them may have been trimmed.
    if oldest and missed and id_key(oldest) > id_key(last_id) and missed[0].id == oldest:
        return None
    return missed


class EventStream:
    """The ASGI endpoint; it finds the running hive's fan-out through ``scope["app"]``."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        hive = scope["app"].state.hive
        connection = _Connection(hive.fanout, hive.valkey, hive.keys, hive.stream_leases)
        await connection.serve(scope, receive, send, hive.runtime.current.sse_streams_per_address)


class _Connection:
    def __init__(
        self, fanout: EventFanout, valkey: Redis, keys: Keys, leases: StreamLeases
    ) -> None:
        self.fanout = fanout
        self.valkey = valkey
        self.keys = keys
        self.leases = leases

    async def serve(self, scope: Scope, receive: Receive, send: Send, cap: int) -> None:
        last_id = _last_event_id(scope)
        if last_id is not None and not _is_event_id(last_id):
            response = error_response(400, "bad_last_event_id", "Last-Event-ID is not an event id")
            await response(scope, receive, send)
            return
        # The client address uvicorn settled on: X-Forwarded-For from a trusted
        # proxy (KEYFORGE_TRUSTED_PROXIES), else the TCP peer.
        client = scope.get("client")
        try:
            lease = await self.leases.take(client[0] if client else None, cap)
        except STORE_DOWN_ERRORS:
            response = error_response(
                503,
                "dependency_down",
                "valkey is not answering, retry shortly",
                headers={"Retry-After": str(STORE_DOWN_RETRY_AFTER_S)},
            )
            await response(scope, receive, send)
            return
        if lease is None:
            response = error_response(
                429,
                "too_many_streams",
                f"this address already holds {cap} event streams",
                headers={"Retry-After": str(CAP_RETRY_AFTER_S)},
            )
            await response(scope, receive, send)
            return
        try:
            await self._serve(receive, send, last_id)
        finally:
            # Valkey down: the lease is no longer renewed and expires by itself.
            with contextlib.suppress(*STORE_DOWN_ERRORS):
                await self.leases.release(lease)

    async def _serve(self, receive: Receive, send: Send, last_id: str | None) -> None:
        subscriber = self.fanout.subscribe()
        subscriber.streamer = asyncio.current_task()
        watcher = asyncio.create_task(self._until_disconnect(receive, subscriber))
        try:
            await self._stream(send, subscriber, last_id)
        except OSError:
            pass  # the client went away
        except asyncio.CancelledError:
            if subscriber in self.fanout.subscribers:
                raise  # not our abort: the server is stopping this task
            # Aborted for not reading: end here; the server closes the connection.
        finally:
            self.fanout.unsubscribe(subscriber)
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher

    @staticmethod
    async def _until_disconnect(receive: Receive, subscriber: Subscriber) -> None:
        while (await receive())["type"] != "http.disconnect":
            pass
        subscriber.close()

    @staticmethod
    async def _send(send: Send, body: bytes) -> None:
        # No timeout per write: a client that stops reading fills its queue and
        # the fan-out aborts this task (``Subscriber.abort``).
        await send({"type": "http.response.body", "body": body, "more_body": True})

    async def _stream(self, send: Send, subscriber: Subscriber, last_id: str | None) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
        await self._send(send, f"retry: {RETRY_MS}\n\n".encode())
        newest = id_key(last_id) if last_id is not None else None
        if last_id is not None:
            missed = await missed_since(self.valkey, self.keys, last_id)
            if missed is None:
                await self._send(send, b'event: resync\ndata: {"reason":"history_trimmed"}\n\n')
            else:
                for frame in missed:
                    await self._send(send, frame.wire)
                    newest = frame.order
        queue = subscriber.queue
        while True:
            first = await queue.get()
            # Whatever queued up meanwhile leaves in the same write.
            frames = [first]
            while not queue.empty() and len(frames) < COALESCE_MAX:
                frames.append(queue.get_nowait())
            if None in frames:
                break
            wire = b"".join(
                f.wire
                for f in frames
                if f is not None and (not f.id or newest is None or f.order > newest)
            )
            if wire:
                await self._send(send, wire)
        with contextlib.suppress(OSError):
            await send({"type": "http.response.body", "body": b"", "more_body": False})
