"""Per-node rate limits, counted in Valkey so they hold across every hive.

A fixed window per (action, node): the first request of a window creates the
counter with the window's expiry, each request increments it, in one script
call (one round trip). Over the budget answers 429 with the time until the
window ends as ``Retry-After`` (header and envelope). The admin is never
limited; a budget of 0 turns a limit off.

The counting is bounded in concurrency (a burst of requests waits for a turn
rather than exhausting the Valkey connection pool), and fails open: while
Valkey is unreachable requests are not counted, and meet their own stores.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import math
from dataclasses import dataclass, field

from redis.asyncio import Redis
from redis.exceptions import RedisError

from keyforge_shared.errors import KeyforgeError
from keyforge_shared.keys import Keys
from keyforge_shared.live_settings import RuntimeView

log = logging.getLogger(__name__)

# Counting calls in flight at once, well below the client's connection pool (100).
CONCURRENCY = 32

# KEYS: the counter. ARGV: window ms. Returns the count and the window's remaining ms.
WINDOW_SCRIPT = """
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
local left = redis.call('PTTL', KEYS[1])
if left < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]); left = tonumber(ARGV[1]) end
return {n, left}
"""


class Action(enum.StrEnum):
    RESULTS = "results"
    SCORE = "score"
    REGISTER = "register"
    JOBS = "jobs"
    KV_WRITES = "kv_writes"


class RateLimited(KeyforgeError):
    status_code = 429
    code = "rate_limited"

    def __init__(self, action: Action, budget: int, window_s: int, retry_after_s: int) -> None:
        super().__init__(
            f"at most {budget} {action.value} requests per {window_s} s per node; "
            f"retry in {retry_after_s} s",
            headers={"Retry-After": str(retry_after_s)},
            extra={"retry_after": retry_after_s},
        )


@dataclass
class RateLimiter:
    valkey: Redis
    keys: Keys
    runtime: RuntimeView
    _turns: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(CONCURRENCY))

    def __post_init__(self) -> None:
        self._script = self.valkey.register_script(WINDOW_SCRIPT)

    def budget(self, action: Action) -> int:
        budget: int = getattr(self.runtime.current, f"rate_{action.value}")
        return budget

    async def spend(self, action: Action, node_id: str) -> None:
        """Count one request of ``node_id``; raise :class:`RateLimited` over the budget."""
        budget = self.budget(action)
        if budget <= 0:
            return
        window_s = self.runtime.current.rate_window_s
        try:
            async with self._turns:
                count, left_ms = await self._script(
                    keys=[self.keys.rate_window(action.value, node_id)], args=[window_s * 1000]
                )
        except (RedisError, ConnectionError) as exc:
            log.warning("rate limit not counted (%s): Valkey unreachable", type(exc).__name__)
            return
        if int(count) > budget:
            raise RateLimited(action, budget, window_s, max(1, math.ceil(int(left_ms) / 1000)))
