"""``nodes.last_seen`` and ``nodes.status`` reach Postgres in batches, never per heartbeat.

Each hive remembers the newest beat per node and writes it at most once per
``last_seen_flush_s`` per node; a status change is written on the next tick.
One ``UPDATE ... FROM unnest(...)`` carries a whole batch.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import asyncpg

FLUSH_SQL = """
UPDATE nodes AS n
   SET last_seen = GREATEST(n.last_seen, v.seen),
       status = COALESCE(v.status, n.status)
  FROM unnest($1::text[], $2::timestamptz[], $3::text[]) AS v(node_id, seen, status)
 WHERE n.node_id = v.node_id
"""


@dataclass
class LastSeenFlusher:
    pool: asyncpg.Pool
    flush_every_s: Callable[[], int]
    _seen_ms: dict[str, int] = field(default_factory=dict)
    _status: dict[str, str] = field(default_factory=dict)
    _flushed_at: dict[str, float] = field(default_factory=dict)
    batches: int = 0

    def saw(self, node_id: str, at_ms: int) -> None:
        self._seen_ms[node_id] = at_ms

    def status_changed(self, node_id: str, status: str) -> None:
        self._status[node_id] = status

    async def flush(self, *, everything: bool = False) -> int:
        now = time.monotonic()
        every = self.flush_every_s()
        due = {
            node_id
            for node_id in self._seen_ms
            if everything or now - self._flushed_at.get(node_id, -1e18) >= every
        }
        due |= set(self._status)
        if not due:
            return 0
        ids = sorted(due)
        seen = [self._seen_ms.pop(i, None) for i in ids]
        statuses = [self._status.pop(i, None) for i in ids]
        stamps = [datetime.fromtimestamp(ms / 1000, UTC) if ms else None for ms in seen]
        try:
            await self.pool.execute(FLUSH_SQL, ids, stamps, statuses)
        except BaseException:
            # Put them back (unless newer values arrived meanwhile) for the next tick.
            for node_id, ms, status in zip(ids, seen, statuses, strict=True):
                if ms is not None:
                    self._seen_ms.setdefault(node_id, ms)
                if status is not None:
                    self._status.setdefault(node_id, status)
            raise
        for node_id, ms in zip(ids, seen, strict=True):
            if ms is not None:
                self._flushed_at[node_id] = now
        self.batches += 1
        return len(ids)
