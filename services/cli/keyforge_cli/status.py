"""``keyforge status``: the fleet at a glance (cluster stats, nodes, jobs); ``--json`` for scripts.

Cluster stats and jobs are public. The node table is an admin view: it needs
the admin secret (``--stack`` reads it from the stack's files, otherwise
``--admin-secret-file`` or ``HIVE_ADMIN_SECRET``); without one it is left out
and said so. ``--json`` prints ``{"stats", "nodes", "jobs"}`` (``nodes`` null
without the admin secret).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.table import Table

from keyforge_shared.client.endpoints import async_client
from keyforge_shared.client.targets import Targets, add_target_arguments, resolve_targets

NODE_ROWS = 50
STATUS_ORDER = {"ready": 0, "draining": 1, "down": 2}


async def fetch_status(targets: Targets) -> dict[str, Any]:
    async with async_client(targets.hive) as client:
        stats = await client.get("/cluster/stats")
        stats.raise_for_status()
        jobs = await client.get("/jobs")
        jobs.raise_for_status()
        nodes: list[dict[str, Any]] | None = None
        if targets.admin_secret is not None:
            answer = await client.get(
                "/nodes", headers={"X-Keyforge-Admin": targets.admin_secret.current()}
            )
            answer.raise_for_status()
            nodes = answer.json()
    return {"stats": stats.json(), "nodes": nodes, "jobs": jobs.json()}


def _gib(value: Any) -> str:
    return f"{value / 2**30:.1f} GiB" if isinstance(value, int | float) else "-"


def _ago(iso: Any) -> str:
    try:
        then = datetime.fromisoformat(str(iso))
    except ValueError:
        return "-"
    seconds = max((datetime.now(UTC) - then).total_seconds(), 0)
    return f"{seconds:.0f}s ago" if seconds < 120 else f"{seconds / 60:.0f}m ago"


def _number(value: Any, digits: int = 0) -> str:
    return f"{value:,.{digits}f}" if isinstance(value, int | float) else "-"


def stats_table(stats: dict[str, Any]) -> Table:
    table = Table(title="cluster", show_header=False)
    table.add_column(style="bold")
    table.add_column(justify="right")
    table.add_row("nodes online", str(stats.get("nodes_online")))
    table.add_row("nodes draining", str(stats.get("nodes_draining")))
    table.add_row("total ips", _number(stats.get("total_ips")))
    table.add_row("avg temperature", _number(stats.get("avg_temperature_c"), 1) + " °C")
    table.add_row(
        "ram used / total",
        f"{_gib(stats.get('ram_used_bytes'))} / {_gib(stats.get('ram_total_bytes'))}",
    )
    table.add_row("jobs active", str(stats.get("jobs_active")))
    table.add_row("as of", str(stats.get("as_of")))
    return table


def nodes_table(nodes: list[dict[str, Any]], limit: int) -> Table:
    ordered = sorted(
        nodes, key=lambda n: (STATUS_ORDER.get(n.get("status", ""), 3), -(n.get("ips") or 0))
    )
    shown = ordered[:limit]
    caption = f"{len(nodes) - len(shown)} more not shown (--limit)" if len(nodes) > limit else None
    table = Table(title=f"nodes ({len(nodes)})", caption=caption)
    numeric = ("cores", "ops/s", "ips")
    for column in ("node", "status", "cpu", "cores", "ops/s", "ips", "last seen"):
        table.add_column(column, justify="right" if column in numeric else "left")
    colour = {"ready": "green", "draining": "yellow", "down": "red"}
    for node in shown:
        status = str(node.get("status"))
        table.add_row(
            str(node.get("node_id")),
            f"[{colour.get(status, 'white')}]{status}[/]",
            str(node.get("cpu_model")),
            str(node.get("cores")),
            _number(node.get("ops_per_sec")),  # measured at registration (calibration)
            _number(node.get("ips")),
            _ago(node.get("last_seen")),
        )
    return table


def jobs_table(jobs: list[dict[str, Any]]) -> Table:
    table = Table(title=f"jobs ({len(jobs)})")
    for column in ("job", "keyboard", "status", "best score", "results", "created"):
        table.add_column(column, justify="right" if column in ("best score", "results") else "left")
    for job in jobs:
        table.add_row(
            str(job.get("job_id", ""))[:12],
            str(job.get("keyboard_name") or "-"),
            str(job.get("status")),
            _number(job.get("best_score"), 3),
            str(job.get("results")),
            str(job.get("created_at") or "-"),
        )
    return table


def run(args: argparse.Namespace) -> int:
    targets = resolve_targets(args)
    try:
        status = asyncio.run(fetch_status(targets))
    except httpx.HTTPError as exc:
        print(f"keyforge: the hive at {targets.hive.url} did not answer: {exc}", file=sys.stderr)
        return 1
    if args.json:
        sys.stdout.write(json.dumps(status) + "\n")
        return 0
    console = Console()
    console.print(stats_table(status["stats"]))
    if status["nodes"] is None:
        console.print("nodes: the node table needs the admin secret (--admin-secret-file)")
    else:
        console.print(nodes_table(status["nodes"], args.limit))
    console.print(jobs_table(status["jobs"]))
    return 0


def add_commands(sub: Any) -> None:
    status = sub.add_parser("status", help="cluster stats, nodes and jobs")
    add_target_arguments(status)
    status.add_argument(
        "--admin-secret-file", type=Path, help="admin secret (default $HIVE_ADMIN_SECRET)"
    )
    status.add_argument("--limit", type=int, default=NODE_ROWS, help="node rows to show")
    status.add_argument("--json", action="store_true", help="one JSON object, for scripts")
    status.set_defaults(run=run)
