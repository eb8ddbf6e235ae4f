"""Following the hive's ``/events`` as a client: parse, resume, never lose an event.

Each event's ``id`` is remembered; after a dropped connection the stream is
reopened with ``Last-Event-ID`` and the hive replays what was missed, so a
follower sees every event once, in order, across reconnects.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx

from keyforge_shared.client.backoff import Backoff

LAST_EVENT_ID = "Last-Event-ID"


@dataclass(frozen=True)
class StreamEvent:
    id: str | None
    event: str
    data: Any


async def read_events(response: httpx.Response) -> AsyncIterator[StreamEvent]:
    """The events of one open ``text/event-stream`` response, until it ends."""
    fields: dict[str, str] = {}
    async for line in response.aiter_lines():
        if line.startswith(":"):
            continue  # a keep-alive comment
        if line:
            name, _, value = line.partition(":")
            fields[name] = value.removeprefix(" ")
            continue
        if "data" in fields or "event" in fields:
            try:
                data = json.loads(fields["data"]) if "data" in fields else None
            except json.JSONDecodeError:
                data = fields.get("data")
            yield StreamEvent(fields.get("id"), fields.get("event", "message"), data)
        fields = {}


@dataclass
class EventFollower:
    """Every event from ``last_event_id`` on, reconnecting with backoff until cancelled."""

    client: httpx.AsyncClient
    last_event_id: str | None = None
    reconnects: int = 0
    _backoff: Backoff = field(default_factory=lambda: Backoff(base_s=0.2, cap_s=5.0))

    async def events(self) -> AsyncIterator[StreamEvent]:
        while True:
            headers = {"Accept": "text/event-stream"}
            if self.last_event_id is not None:
                headers[LAST_EVENT_ID] = self.last_event_id
            try:
                async with self.client.stream(
                    "GET", "/events", headers=headers, timeout=httpx.Timeout(10.0, read=60.0)
                ) as response:
                    if response.status_code == 200:
                        self._backoff.reset()
                        async for event in read_events(response):
                            if event.id is not None:
                                self.last_event_id = event.id
                            yield event
            except httpx.HTTPError:
                pass
            self.reconnects += 1
            await asyncio.sleep(self._backoff.next_delay())
