"""``lease_job``: hand one work slot of an active job to a node, fenced and marked in flight.

Slots. A job has ``jobs.slots`` work slots (8 unless set otherwise): up to
that many nodes search it at once, each from its own slot (an independent
annealing run seeded from the job's population). A slot is leased to one node
at a time.

Marks and fencing. Claiming a slot is one Lua script: the first slot without
an in-flight mark gets one (``SET NX PX lease_ms`` holding the lease token), so
no second node gets that slot while the lease lives, and an expired mark
frees the slot by itself: nothing has to reap it. The lease's attempt number
then comes from Postgres (``job_leases.attempt``, one more per lease of the
slot), so it only ever grows even if Valkey loses every mark; a result that
carries an older attempt than the slot's current lease is stale.

Fairness. ``job_queue`` orders active jobs by when a slot of theirs was last
offered; a poll tries the least recently served jobs first and every try
moves a job to the back, so nodes spread over jobs round-robin instead of
piling onto the newest.
"""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

import asyncpg
from redis.asyncio import Redis

from keyforge_shared.asset_store import ManifestEntry
from keyforge_shared.formats import FormatError
from keyforge_shared.job_scorer import job_asset_paths
from keyforge_shared.keys import Keys
from keyforge_shared.lua import with_server_now
from keyforge_shared.protocol.jobs import DEFAULT_COST_MATRIX, LeaseAnswer
from keyforge_shared.strict_input import parse_uint

log = logging.getLogger(__name__)

CANDIDATES = 16  # jobs tried per poll before it waits
DEFAULT_SLOTS = 8

# KEYS: job queue, lease expiries, then the job's slot marks in slot order.
# ARGV: job id, lease ms, token. Returns {slot, lease end ms}; slot -1: all in
# flight, -2: the job left the queue.
CLAIM_SLOT = with_server_now("""
if not redis.call('ZSCORE', KEYS[1], ARGV[1]) then return {-2, now} end
redis.call('ZADD', KEYS[1], now, ARGV[1])
for i = 3, #KEYS do
  if redis.call('SET', KEYS[i], ARGV[3], 'NX', 'PX', ARGV[2]) then
    local ends = now + tonumber(ARGV[2])
    redis.call('ZADD', KEYS[2], ends, (i - 3) .. ':' .. ARGV[1])
    return {i - 3, ends}
  end
end
return {-1, now}
""")

# KEYS: the slot mark, lease expiries. ARGV: token, expiry member. Only the holder frees it.
RELEASE_SLOT = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  redis.call('ZREM', KEYS[2], ARGV[2])
  return 1
end
return 0
"""

GRANT_SQL = """
WITH job AS (
    SELECT job_id, spec FROM jobs WHERE job_id = $1 AND status = 'active'
), granted AS (
    INSERT INTO job_leases (job_id, slot, attempt, lease_token, node_id, expires_at)
    SELECT job_id, $2, 1, $3, $4, $5 FROM job
    ON CONFLICT (job_id, slot) DO UPDATE
       SET attempt = job_leases.attempt + 1, lease_token = EXCLUDED.lease_token,
           node_id = EXCLUDED.node_id, leased_at = now(), expires_at = EXCLUDED.expires_at
    RETURNING attempt
)
SELECT granted.attempt, job.spec FROM granted, job
"""


@dataclass(frozen=True, slots=True)
class LeaseId:
    """``<slot>.<attempt>.<token>``: what a node sends back with its results."""

    slot: int
    attempt: int
    token: str

    def __str__(self) -> str:
        return f"{self.slot}.{self.attempt}.{self.token}"

    @classmethod
    def parse(cls, text: str) -> LeaseId:
        slot, _, rest = text.partition(".")
        attempt, _, token = rest.partition(".")
        slot_number, attempt_number = parse_uint(slot), parse_uint(attempt)
        if slot_number is None or attempt_number is None or len(token) != 16:
            raise FormatError("lease_id is not one this hive issued")
        return cls(slot_number, attempt_number, token)


@dataclass(frozen=True)
class Lease:
    job_id: str
    lease_id: LeaseId
    expires_at: datetime
    spec: dict[str, Any]
    assets: dict[str, str | None]

    def answer(self) -> LeaseAnswer:
        return LeaseAnswer(
            job_id=self.job_id,
            config=self.spec,
            lease_id=str(self.lease_id),
            lease_expires_at=self.expires_at,
            slot=self.lease_id.slot,
            attempt=self.lease_id.attempt,
            assets=self.assets,
        )


def _expiry_member(job_id: str, slot: int) -> str:
    return f"{slot}:{job_id}"


@dataclass
class Leaser:
    valkey: Redis
    keys: Keys
    pool: asyncpg.Pool
    lease_s: Callable[[], int]
    _slots: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._claim = self.valkey.register_script(CLAIM_SLOT)
        self._release = self.valkey.register_script(RELEASE_SLOT)

    async def lease_job(self, node_id: str) -> Lease | None:
        """One pass over the least recently served jobs; None when every slot is in flight."""
        raw = cast(list[bytes], await self.valkey.zrange(self.keys.job_queue(), 0, CANDIDATES - 1))
        candidates = [r.decode() for r in raw]
        await self._learn_slots(candidates)
        for job_id in candidates:
            lease = await self._try_job(job_id, node_id)
            if lease is not None:
                return lease
        return None

    async def _learn_slots(self, job_ids: list[str]) -> None:
        unknown = [j for j in job_ids if j not in self._slots]
        if not unknown:
            return
        if len(self._slots) > 10_000:
            self._slots.clear()
        rows = await self.pool.fetch(
            "SELECT job_id, slots FROM jobs WHERE job_id = ANY($1::text[])", unknown
        )
        self._slots.update({r["job_id"]: r["slots"] for r in rows})
        for gone in set(unknown) - {r["job_id"] for r in rows}:
            await self.valkey.zrem(self.keys.job_queue(), gone)

    async def _try_job(self, job_id: str, node_id: str) -> Lease | None:
        slots = self._slots.get(job_id)
        if slots is None:
            return None
        token = secrets.token_hex(8)
        lease_ms = self.lease_s() * 1000
        marks = [self.keys.slot_mark(job_id, s) for s in range(slots)]
        queue, expiries = self.keys.job_queue(), self.keys.lease_expiries()
        slot, ends_ms = await self._claim(
            keys=[queue, expiries, *marks], args=[job_id, lease_ms, token]
        )
        if slot < 0:
            return None
        expires_at = datetime.fromtimestamp(int(ends_ms) / 1000, UTC)
        try:
            row = await self.pool.fetchrow(GRANT_SQL, job_id, slot, token, node_id, expires_at)
        except BaseException:
            await self._free(job_id, slot, token)
            raise
        if row is None:  # paused or cancelled since it was queued
            await self._free(job_id, slot, token)
            await self.valkey.zrem(queue, job_id)
            return None
        spec: dict[str, Any] = json.loads(row["spec"])
        lease_id = LeaseId(slot, int(row["attempt"]), token)
        return Lease(job_id, lease_id, expires_at, spec, await self._assets_of(spec))

    async def _free(self, job_id: str, slot: int, token: str) -> None:
        try:
            await self._release(
                keys=[self.keys.slot_mark(job_id, slot), self.keys.lease_expiries()],
                args=[token, _expiry_member(job_id, slot)],
            )
        except Exception as exc:
            # The mark expires by itself; the slot is only idle until then.
            log.warning("could not free slot %d of %s: %s", slot, job_id, type(exc).__name__)

    async def _assets_of(self, spec: dict[str, Any]) -> dict[str, str | None]:
        """path -> the sha256 the manifest serves now, for the node's asset cache."""
        paths = job_asset_paths(spec["corpus_name"], spec.get("cost_matrix", DEFAULT_COST_MATRIX))
        raw = cast(list[bytes | None], await self.valkey.hmget(self.keys.asset_manifest(), paths))
        pairs = zip(paths, raw, strict=True)
        return {p: ManifestEntry.from_json(v).sha256 if v else None for p, v in pairs}
