"""Results the hive has not accepted yet, kept on disk until it has.

Sending is idempotent on the hive's side (a layout a job already holds gets
the answer it got the first time), so a result is resent until an answer
says what became of it: accepted, or refused for a reason resending cannot
fix. Only improvements are offered: a result no better than one already
pending or accepted for its job is not worth a request.

While the hive answers, a job's pending result is simply replaced by a
better one (the next round sends the best). A result that is pending while
it does not (the sender says so: ``set_unreachable``) is *owed*: it is never
replaced, only settled, so every improvement found during an outage (up to
``OWED_PER_JOB`` per job, the latest) goes out, in the order found, once a
hive answers again. The outbox survives a node restart in ``outbox.json``;
what it held then is owed too.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
from collections import OrderedDict
from dataclasses import asdict, dataclass
from pathlib import Path

from keyforge_shared.private_files import write_private
from keyforge_shared.protocol.jobs import ResultIn

log = logging.getLogger(__name__)

OUTBOX_FILE = "outbox.json"
REMEMBERED_JOBS = 256
OWED_PER_JOB = 16
IMPROVEMENT = 1e-9


@dataclass(frozen=True)
class Result:
    job_id: str
    lease_id: str | None
    layout: str  # canonical keycode ids, space-separated
    score: float

    def request(self, node_id: str) -> ResultIn:
        return ResultIn(
            job_id=self.job_id,
            layout=self.layout,
            score=self.score,
            node_id=node_id,
            lease_id=self.lease_id,
        )


class Outbox:
    def __init__(self, state_dir: Path) -> None:
        self.path = state_dir / OUTBOX_FILE
        self._pending: dict[str, list[Result]] = {}  # per job, in the order found
        self._accepted: OrderedDict[str, float] = OrderedDict()  # best accepted score per job
        self.changed = asyncio.Event()  # set when a result is offered
        self.emptied = asyncio.Event()  # set while nothing is pending
        self.unreachable = False  # the sender's last attempt got no useful answer
        self._owed: set[Result] = set()
        self._load()
        if not self._pending:
            self.emptied.set()

    def _load(self) -> None:
        try:
            saved = json.loads(self.path.read_text(encoding="utf-8"))
            pending = [Result(**r) for r in saved.get("pending", [])]
            accepted = {str(k): float(v) for k, v in saved.get("accepted", {}).items()}
        except FileNotFoundError:
            return
        except (ValueError, TypeError, AttributeError) as exc:
            log.warning("ignoring an unreadable %s: %s", self.path, type(exc).__name__)
            return
        for result in pending:
            if math.isfinite(result.score):
                self._pending.setdefault(result.job_id, []).append(result)
        self._accepted.update(accepted)
        self._owed.update(self.pending())
        if self._pending:
            log.info("%d unsent result(s) from the last run will be sent", len(self.pending()))
            self.changed.set()

    def _save(self) -> None:
        document = {
            "pending": [asdict(r) for r in self.pending()],
            "accepted": dict(self._accepted),
        }
        write_private(self.path, json.dumps(document, indent=1) + "\n")

    def best_known(self, job_id: str) -> float:
        pending = self._pending.get(job_id)
        latest = pending[-1].score if pending else math.inf
        return min(latest, self._accepted.get(job_id, math.inf))

    def offer(self, result: Result) -> bool:
        """Keep ``result`` if it beats everything pending or accepted for its job."""
        if not result.score < self.best_known(result.job_id) - IMPROVEMENT:
            return False
        owed = [r for r in self._pending.get(result.job_id, []) if r in self._owed]
        if self.unreachable:
            if len(owed) >= OWED_PER_JOB:  # the oldest (and worst) makes room
                self._owed.discard(owed.pop(0))
            self._owed.add(result)
        self._pending[result.job_id] = [*owed, result]
        self._save()
        self.changed.set()
        self.emptied.clear()
        return True

    def set_unreachable(self, unreachable: bool) -> None:
        """The sender's verdict after an attempt; going unreachable makes what is pending owed."""
        self.unreachable = unreachable
        if unreachable:
            self._owed.update(self.pending())

    def pending(self) -> list[Result]:
        return [result for results in self._pending.values() for result in results]

    def settle(self, result: Result, accepted_score: float | None) -> None:
        """The hive answered for ``result``: accepted (with its score) or refused for good."""
        results = self._pending.get(result.job_id, [])
        if result in results:
            results.remove(result)
        self._owed.discard(result)
        if not results:
            self._pending.pop(result.job_id, None)
        if accepted_score is not None:
            best = min(accepted_score, self._accepted.pop(result.job_id, math.inf))
            self._accepted[result.job_id] = best
            while len(self._accepted) > REMEMBERED_JOBS:
                self._accepted.popitem(last=False)
        if not self._pending:
            self.emptied.set()
        self._save()
