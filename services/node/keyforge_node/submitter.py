"""Sends the outbox, oldest result first, until the hive says what became of each.

An answer settles a result: 200 (accepted, committed before the hive
answered), or a refusal resending cannot fix (the lease moved on, the job
closed, the hive scores the layout differently). Anything else (no answer,
5xx, a refused secret) leaves it pending, sent again after a backoff, and
puts the outbox in its keep-every-improvement mode until a send succeeds.
A refusal that means the lease is no longer ours is passed to the work
loop, which stops working that lease.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from keyforge_node.hive_client import (
    AuthRefused,
    HiveClient,
    HiveUnavailable,
    Refused,
    UnknownNode,
)
from keyforge_node.outbox import Outbox, Result
from keyforge_node.session import report
from keyforge_shared.client.backoff import Backoff
from keyforge_shared.protocol.jobs import ResultAccepted

log = logging.getLogger(__name__)

# At most one round of submissions per second: improvements come faster than
# that early in a search, and only the best of them matters.
ROUND_S = 1.0
# A submission this slow means the hive is not answering (stopped, partitioned)
# well before the client's timeout says so: what is pending becomes owed then,
# so a better result found meanwhile cannot replace the one found during the outage.
SLOW_ANSWER_S = 2.0

LeaseRefused = Callable[[Result, str], None]


class ResultSender:
    def __init__(
        self, hive: HiveClient, outbox: Outbox, node_id: str, lease_refused: LeaseRefused
    ) -> None:
        self.hive, self.outbox, self.node_id = hive, outbox, node_id
        self.lease_refused = lease_refused
        self.accepted = 0
        self.records = 0

    async def run(self) -> None:
        """Until cancelled (the node cancels it once the outbox is empty or its grace ran out)."""
        backoff = Backoff()
        while True:
            if not self.outbox.pending():
                self.outbox.changed.clear()
                await self.outbox.changed.wait()
            delay = await self.send_round(backoff)
            await asyncio.sleep(max(delay, ROUND_S))

    async def send_round(self, backoff: Backoff) -> float:
        """Send every pending result once; returns how long to wait before the next round."""
        for result in self.outbox.pending():
            try:
                answer = await self._submit(result)
            except (HiveUnavailable, AuthRefused) as exc:
                self.outbox.set_unreachable(True)
                report("sending a result", exc, backoff.failures + 1)
                return backoff.next_delay(getattr(exc, "retry_after_s", 0.0))
            except (Refused, UnknownNode) as exc:
                self._refused(result, exc)
                continue
            if backoff.failures:
                log.info("results reach the hive again")
            backoff.reset()
            self.outbox.set_unreachable(False)
            self.outbox.settle(result, answer.score)
            self.accepted += 1
            self.records += answer.record
            log.info(
                "result accepted: job %s score %.6f%s",
                result.job_id[:12],
                answer.score,
                " (a new record)" if answer.record else "",
            )
        return 0.0

    async def _submit(self, result: Result) -> ResultAccepted:
        sending = asyncio.ensure_future(self.hive.submit(result.request(self.node_id)))
        done, _ = await asyncio.wait({sending}, timeout=SLOW_ANSWER_S)
        if not done:
            self.outbox.set_unreachable(True)
        try:
            return await sending
        except asyncio.CancelledError:
            sending.cancel()
            raise

    def _refused(self, result: Result, exc: Refused | UnknownNode) -> None:
        code = exc.code if isinstance(exc, Refused) else "unknown_node"
        self.outbox.settle(result, None)
        if code == "score_mismatch":
            expected = exc.body.extra_value("expected_score") if isinstance(exc, Refused) else None
            log.error(
                "the hive scores our layout %s, we scored %.6f: dropped (assets changed?)",
                expected,
                result.score,
            )
        else:
            log.warning("result for job %s refused for good: %s", result.job_id[:12], exc)
        self.lease_refused(result, code)
