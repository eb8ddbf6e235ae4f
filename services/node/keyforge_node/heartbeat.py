"""The heartbeat loop: at the interval the hive asks for, the node's own measured speed."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from keyforge_node.hardware import ram_usage, temperature_c
from keyforge_node.hive_client import AuthRefused, HiveUnavailable, Refused, UnknownNode
from keyforge_node.session import NodeSession
from keyforge_shared.client.backoff import Backoff, pause
from keyforge_shared.protocol.nodes import HeartbeatIn

log = logging.getLogger(__name__)


@dataclass
class WorkMeter:
    """Swap deltas priced by the workers; ``rate`` is per second over the last ``window_s``.

    A window rather than "since the last beat": beats retried quickly after a
    failure would otherwise see a sliver of time with no batch finished in it.
    """

    window_s: float = 10.0
    _started: float = field(default_factory=time.monotonic)
    _batches: deque[tuple[float, int]] = field(default_factory=deque)

    def add(self, ops: int) -> None:
        self._batches.append((time.monotonic(), ops))

    def rate(self) -> float:
        now = time.monotonic()
        while self._batches and self._batches[0][0] < now - self.window_s:
            self._batches.popleft()
        span = min(self.window_s, now - self._started)
        return round(sum(ops for _, ops in self._batches) / span, 1) if span > 0 else 0.0


def telemetry(meter: WorkMeter, job_id: str | None) -> HeartbeatIn:
    used, total = ram_usage()
    return HeartbeatIn(
        ips=meter.rate(),
        temperature_c=temperature_c(),
        ram_used_bytes=used,
        ram_total_bytes=total,
        job_id=job_id,
    )


async def fetch_config(session: NodeSession) -> None:
    """The hive's config moved: fetch and apply it now (the next beat tries again if not)."""
    try:
        session.apply_config(await session.hive.node_config(session.node_id))
    except (UnknownNode, HiveUnavailable, AuthRefused, Refused) as exc:
        log.warning("could not fetch the node config: %s", exc)


async def heartbeat_loop(
    session: NodeSession, meter: WorkMeter, current_job: Callable[[], str | None]
) -> None:
    loop = asyncio.get_running_loop()
    backoff = Backoff()
    next_at = loop.time()
    while not session.stopping.is_set():
        generation = session.generation
        try:
            answer = await session.hive.heartbeat(session.node_id, telemetry(meter, current_job()))
        except (UnknownNode, HiveUnavailable, AuthRefused) as exc:
            # Never longer than one interval between tries: the TTL is three.
            interval_s = session.heartbeat_interval_s
            if await session.recover(exc, backoff, "heartbeat", generation, max_wait_s=interval_s):
                return
            continue
        except Refused as exc:
            log.warning("the hive refused a heartbeat: %s", exc)
        else:
            if backoff.failures:
                log.info("heartbeats reach the hive again")
            backoff.reset()
            if answer.interval_s:
                session.heartbeat_interval_s = answer.interval_s
            if answer.config_version not in (None, session.config_version):
                await fetch_config(session)
        # Drift-free: the next beat is due one interval after this one was due.
        next_at = max(next_at + session.heartbeat_interval_s, loop.time())
        if await pause(session.stopping, next_at - loop.time()):
            return
