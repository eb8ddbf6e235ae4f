"""KV housekeeping: the TTL sweep, garbage collection of dead versions, the namespace list.

A version is dead from the moment it stopped being current: a deletion
marker when it was written, an older version when the next one was
written, an expired one at its expiry. ``collect_garbage`` purges what has
been dead longer than the retention; the newest live version of a key is
never touched. Version numbers restart at 1 only for a key whose every row
was purged.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import asyncpg

from keyforge_hive.kv.store import Db, audit
from keyforge_shared.protocol.kv import KvNamespace

_SWEEP = "UPDATE kv SET tombstone = true WHERE expires_at <= now() AND NOT tombstone"


async def sweep_expired(db: Db | asyncpg.Pool) -> int:
    """Tombstone every version whose TTL ran out (reads ignore them already)."""
    status = await db.execute(_SWEEP)
    return int(status.rsplit(" ", 1)[-1])


# When each version stopped being current: a deletion marker when written, an
# older version when the next one was written, an expired one at its expiry.
# The newest live version has none and is never collected.
_COLLECT = """
WITH ranked AS (
    SELECT kv_id, created_at, expires_at, tombstone,
           value IS NULL AND ciphertext IS NULL AND tombstone AS marker,
           lead(created_at) OVER (PARTITION BY namespace, key ORDER BY version) AS superseded_at
      FROM kv
), dead AS (
    SELECT kv_id,
           CASE WHEN marker THEN 'deleted'
                WHEN superseded_at IS NOT NULL THEN 'superseded'
                ELSE 'expired' END AS reason,
           CASE WHEN marker THEN created_at
                ELSE LEAST(superseded_at,
                           CASE WHEN tombstone OR expires_at <= now()
                                THEN coalesce(expires_at, created_at) END)
           END AS dead_since
      FROM ranked
)
DELETE FROM kv USING dead
 WHERE kv.kv_id = dead.kv_id AND dead.dead_since <= now() - $1::integer * interval '1 day'
RETURNING dead.reason
"""


async def collect_garbage(db: Db, *, retain_days: int, actor: str) -> dict[str, int]:
    """Purge versions dead for more than ``retain_days``; counts by reason."""
    async with db.transaction():
        reasons: Sequence[asyncpg.Record] = await db.fetch(_COLLECT, retain_days)
        counts = dict(Counter(r["reason"] for r in reasons))
        await audit(db, actor, "kv.gc", "kv", {"retain_days": retain_days, "purged": counts})
    return counts


_NAMESPACES = """
SELECT namespace,
       count(*) AS versions,
       count(*) FILTER (WHERE newest AND NOT tombstone
                        AND (expires_at IS NULL OR expires_at > now())) AS live_keys
  FROM (SELECT namespace, tombstone, expires_at,
               version = max(version) OVER (PARTITION BY namespace, key) AS newest
          FROM kv) AS v
 GROUP BY namespace ORDER BY namespace
"""


async def namespaces(db: Db) -> list[KvNamespace]:
    return [KvNamespace(**r) for r in await db.fetch(_NAMESPACES)]
