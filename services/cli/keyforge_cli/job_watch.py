"""``keyforge job watch J``: a job followed live over ``/events`` until Ctrl-C.

The stream is opened before the history is read, so no record falls between
the two; a record already in the history is not counted twice. After a
dropped connection the follower resumes with ``Last-Event-ID`` and the hive
replays what was missed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console, RenderableType
from rich.live import Live
from rich.table import Table
from rich.text import Text

from keyforge_cli.job_client import get_json, job_clients, keycode_labels, resolve_job_id
from keyforge_cli.job_view import job_panel, score_text, sparkline
from keyforge_shared.client.event_stream import EventFollower, StreamEvent


@dataclass
class WatchedJob:
    job: dict[str, Any]
    scores: list[float] = field(default_factory=list)
    by_node: Counter[str] = field(default_factory=Counter)

    def add_history(self, history: list[dict[str, Any]]) -> None:
        for point in history:
            self.scores.append(point["score"])
            self.by_node[point["node_id"]] += 1

    def apply(self, event: StreamEvent) -> bool:
        """True when the event changed what is shown."""
        data = event.data if isinstance(event.data, dict) else {}
        if data.get("job_id") != self.job["job_id"]:
            return False
        if event.event == "new_record":
            score = float(data["score"])
            if self.scores and score >= self.scores[-1]:
                return False  # already in the history read at start
            self.scores.append(score)
            self.by_node[str(data.get("node_id"))] += 1
            self.job.update(best_score=score, best_layout=data.get("layout"))
            self.job["results"] = int(self.job.get("results", 0)) + 1
            return True
        if event.event == "job_status":
            self.job["status"] = data.get("status", self.job["status"])
            return True
        return False

    def renderable(self, labels: dict[str, str], reconnects: int) -> RenderableType:
        nodes = Table(title="records per node", title_justify="left", box=None)
        nodes.add_column("NODE")
        nodes.add_column("RECORDS", justify="right")
        for node, count in self.by_node.most_common(10):
            nodes.add_row(node, str(count))
        trend = Text.assemble(
            "best score over time ",
            (sparkline(self.scores), "green"),
            f"  {score_text(self.scores[-1] if self.scores else None)}",
        )
        footer = Text(f"reconnected {reconnects}x" if reconnects else "live", style="dim")
        return job_panel(self.job, labels, extra=(Text(""), trend, nodes, footer))


async def _watch(args: argparse.Namespace) -> int:
    async with job_clients(args) as clients:
        job_id = await resolve_job_id(clients.hive, args.job)
        labels = await keycode_labels(clients.gateway)
        follower = EventFollower(clients.hive)
        events = follower.events()
        # Open the stream first: the history then covers everything before it.
        first = asyncio.ensure_future(anext(events))
        await asyncio.sleep(0.2)
        watched = WatchedJob(await get_json(clients.hive, f"/jobs/{job_id}"))
        watched.add_history(await get_json(clients.hive, f"/jobs/{job_id}/history"))
        with Live(watched.renderable(labels, 0), console=Console(), auto_refresh=False) as live:
            event = await first
            while True:
                if watched.apply(event):
                    live.update(watched.renderable(labels, follower.reconnects), refresh=True)
                event = await anext(events)


def run(args: argparse.Namespace) -> int:
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_watch(args))
    return 0
