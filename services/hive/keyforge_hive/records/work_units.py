"""Work units reach Postgres in sparse batches: Valkey sums them, one hive adds them up.

The heartbeat script adds ``ips x live seconds`` per node to a pending hash.
Every ``work_units_flush_s`` (30 s by default: contributors is a slow-moving
view, and one statement per half minute costs Postgres nothing) a hive takes
the whole hash atomically (read and delete in one script, so two hives never
add the same units twice) and adds it to ``node_contributions`` in one
statement. If that statement fails, the units go back into the hash for the
next pass: a Postgres outage delays them, it does not lose them.
"""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg
from redis.asyncio import Redis

from keyforge_shared.keys import Keys

# KEYS: pending hash. Returns its node id / units pairs, and empties it.
TAKE_SCRIPT = """
local pending = redis.call('HGETALL', KEYS[1])
redis.call('DEL', KEYS[1])
return pending
"""

ADD_SQL = """
INSERT INTO node_contributions AS c (node_id, work_units)
SELECT * FROM unnest($1::text[], $2::double precision[])
ON CONFLICT (node_id) DO UPDATE SET work_units = c.work_units + EXCLUDED.work_units
"""


@dataclass
class WorkUnitsFlusher:
    valkey: Redis
    keys: Keys
    pool: asyncpg.Pool
    flushes: int = 0

    def __post_init__(self) -> None:
        self._take = self.valkey.register_script(TAKE_SCRIPT)

    async def flush(self) -> int:
        """Move every pending sum to Postgres; how many nodes it updated."""
        raw: list[bytes] = await self._take(keys=[self.keys.pending_work_units()])
        if not raw:
            return 0
        ids = [raw[i].decode() for i in range(0, len(raw), 2)]
        units = [float(raw[i]) for i in range(1, len(raw), 2)]
        try:
            await self.pool.execute(ADD_SQL, ids, units)
        except BaseException:
            pipe = self.valkey.pipeline(transaction=False)
            for node_id, value in zip(ids, units, strict=True):
                pipe.hincrbyfloat(self.keys.pending_work_units(), node_id, value)
            await pipe.execute()
            raise
        self.flushes += 1
        return len(ids)
