"""What a swarm run measured: every request's call, status and latency, and the summary.

``--json`` prints the contract's line, exactly
``{"requests","failed","by_status":{code:count},"p50_ms","p99_ms"}``. A
request that got no answer at all (refused, reset, timed out) is counted
under status ``"0"``, as browsers report one. ``failed`` counts every
request whose answer was not a success: no answer, or a status of 400 and
above (401 and 404 included, even when the node recovered by re-reading its
secret or registering again).
"""

from __future__ import annotations

import math
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console
from rich.table import Table

NO_ANSWER = "0"


def percentile(sorted_values: list[float], fraction: float) -> float:
    """Nearest-rank percentile of an ascending list (0.0 for no values)."""
    if not sorted_values:
        return 0.0
    rank = max(math.ceil(fraction * len(sorted_values)), 1)
    return sorted_values[rank - 1]


def is_failure(status: str) -> bool:
    return status == NO_ANSWER or int(status) >= 400


@dataclass
class Recorder:
    latencies_ms: list[float] = field(default_factory=list)
    by_status: Counter[str] = field(default_factory=Counter)
    by_call: Counter[tuple[str, str]] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    started: float = field(default_factory=time.monotonic)
    finished: float | None = None

    def record(self, call: str, status: str, latency_ms: float, error: str | None = None) -> None:
        self.latencies_ms.append(latency_ms)
        self.by_status[status] += 1
        self.by_call[(call, status)] += 1
        if error:
            self.errors[f"{call}: {error}"] += 1

    @property
    def elapsed_s(self) -> float:
        return (self.finished or time.monotonic()) - self.started

    def summary(self) -> dict[str, Any]:
        ordered = sorted(self.latencies_ms)
        return {
            "requests": len(ordered),
            "failed": sum(n for status, n in self.by_status.items() if is_failure(status)),
            "by_status": dict(sorted(self.by_status.items())),
            "p50_ms": round(percentile(ordered, 0.50), 2),
            "p99_ms": round(percentile(ordered, 0.99), 2),
        }

    def print_human(self, console: Console, nodes: int) -> None:
        summary = self.summary()
        rate = summary["requests"] / self.elapsed_s if self.elapsed_s > 0 else 0.0
        table = Table(title=f"keyforge swarm: {nodes} nodes, {self.elapsed_s:.1f}s")
        table.add_column("call")
        table.add_column("status", justify="right")
        table.add_column("requests", justify="right")
        for (call, status), count in sorted(self.by_call.items()):
            style = "red" if is_failure(status) else ""
            table.add_row(call, status, str(count), style=style)
        console.print(table)
        console.print(
            f"requests {summary['requests']} ({rate:.0f}/s), failed {summary['failed']}, "
            f"p50 {summary['p50_ms']} ms, p99 {summary['p99_ms']} ms"
        )
        for error, count in self.errors.most_common(10):
            console.print(f"  [red]{count} x {error}[/red]")
