"""The gateway's copy of the manifest, refreshed by ``asset_update`` events.

Requests read the current snapshot without any I/O. Two tasks keep it fresh:
one follows the asset manager's own event stream (a new ``asset_update``
wakes the refresher at once), the other re-reads the manifest whenever its (epoch, version) pair
moved, checking that pair every ``poll_s`` even when no event came (a missed
event or a FLUSHALL announces nothing). Staleness is therefore bounded by
``poll_s`` plus one round trip; after a failed refresh, by ``RETRY_S``.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field

from redis.asyncio import Redis

from keyforge_shared.asset_store import ManifestEntry, ManifestSnapshot, read_manifest_snapshot
from keyforge_shared.asset_store import read_version as read_manifest_version
from keyforge_shared.events import read_new_events
from keyforge_shared.keys import Keys
from keyforge_shared.loops import consume

EVENT_BLOCK_MS = 2_000
RETRY_S = 1.0


@dataclass
class ManifestCache:
    valkey: Redis
    keys: Keys
    poll_s: float
    snapshot: ManifestSnapshot | None = None
    by_hash: dict[str, ManifestEntry] = field(default_factory=dict)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    last_event_id: str = "$"  # where the event reader is; "$": only what comes next

    def entry(self, path: str) -> ManifestEntry | None:
        return self.snapshot.entries.get(path) if self.snapshot else None

    async def refresh(self) -> None:
        epoch, version = await read_manifest_version(self.valkey, self.keys)
        current = self.snapshot
        if current is not None and (current.epoch, current.version) == (epoch, version):
            return
        snapshot = await read_manifest_snapshot(self.valkey, self.keys)
        self.by_hash = {e.sha256: e for e in snapshot.entries.values()}
        self.snapshot = snapshot

    async def keep_fresh(self) -> None:
        """Background task: a consumer (:mod:`keyforge_shared.loops`) of ``wake``."""
        await consume("manifest refresh", self._refresh_then_wait, retry_s=RETRY_S)

    async def _refresh_then_wait(self) -> None:
        await self.refresh()
        # asyncio.timeout: 3.11's wait_for can swallow a cancellation.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self.poll_s):
                await self.wake.wait()
        self.wake.clear()

    async def follow_events(self) -> None:
        """Background task: a consumer of the asset events; ``asset_update`` sets ``wake``."""
        await consume("asset event reader", self._read_events, retry_s=RETRY_S)

    async def _read_events(self) -> None:
        # The asset manager's own stream: the gateway needs no hive to learn of updates.
        events = await read_new_events(
            self.valkey,
            self.keys,
            self.last_event_id,
            count=100,
            block_ms=EVENT_BLOCK_MS,
            stream=self.keys.asset_events(),
        )
        for event in events:
            self.last_event_id = event.id
            if event.type == "asset_update":
                self.wake.set()
