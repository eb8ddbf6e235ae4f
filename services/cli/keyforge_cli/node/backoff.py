"""Exponential backoff with jitter, and sleeps that end early when the node stops."""

from __future__ import annotations

import asyncio
import contextlib
import random
from dataclasses import dataclass

BASE_S = 0.5
# Low enough that a node resumes within seconds of its hive coming back.
CAP_S = 8.0


@dataclass
class Backoff:
    """Delays that double per failure up to ``cap_s``, each drawn from its upper half.

    The jitter keeps a fleet that lost its hive at the same moment from
    coming back in lockstep; the floor at half keeps one node from retrying
    in a tight loop.
    """

    base_s: float = BASE_S
    cap_s: float = CAP_S
    failures: int = 0

    def next_delay(self, at_least_s: float = 0.0) -> float:
        self.failures += 1
        ceiling = min(self.cap_s, self.base_s * 2 ** (self.failures - 1))
        return max(at_least_s, random.uniform(ceiling / 2, ceiling))  # noqa: S311 - jitter

    def reset(self) -> None:
        self.failures = 0


async def pause(stopping: asyncio.Event, seconds: float) -> bool:
    """Sleep ``seconds`` unless the node is stopping; True if it is."""
    if seconds > 0:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await stopping.wait()
    return stopping.is_set()
