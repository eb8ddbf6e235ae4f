"""``keyforge status``: the fleet at a glance (cluster stats, nodes, jobs); ``--json`` for scripts.

Cluster stats, jobs and the dispatch freeze are public. The node table is an admin view: it needs
the admin secret (``--stack`` reads it from the stack's files, otherwise
``--admin-secret-file`` or ``HIVE_ADMIN_SECRET``); without one it is left out
and said so. ``--json`` prints ``{"stats", "nodes", "jobs", "freeze"}`` (``nodes`` null
without the admin secret).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from pydantic import BaseModel, TypeAdapter
from rich.console import Console
from rich.table import Table

from keyforge_cli.fleet_cmd import describe_freeze
from keyforge_shared.client.endpoints import async_client
from keyforge_shared.client.targets import Targets, add_target_arguments, resolve_targets
from keyforge_shared.protocol import headers
from keyforge_shared.protocol.cluster import ClusterStats
from keyforge_shared.protocol.fleet import FreezeState
from keyforge_shared.protocol.jobs import JobSummary
from keyforge_shared.protocol.nodes import NodeView

NODE_ROWS = 50
STATUS_ORDER = {"ready": 0, "draining": 1, "down": 2}
NODES = TypeAdapter(list[NodeView])
JOBS = TypeAdapter(list[JobSummary])


class FleetStatus(BaseModel):
    """What ``--json`` prints; ``nodes`` is None without the admin secret."""

    stats: ClusterStats
    nodes: list[NodeView] | None
    jobs: list[JobSummary]
    freeze: FreezeState


async def _answer(
    client: httpx.AsyncClient, path: str, admin: dict[str, str] | None = None
) -> bytes:
    response = await client.get(path, headers=admin)
    response.raise_for_status()
    return response.content


async def fetch_status(targets: Targets) -> FleetStatus:
    async with async_client(targets.hive) as client:
        stats = await _answer(client, "/cluster/stats")
        jobs = await _answer(client, "/jobs")
        freeze = await _answer(client, "/fleet/freeze")
        nodes = None
        if targets.admin_secret is not None:
            admin = {headers.ADMIN_SECRET: targets.admin_secret.current()}
            nodes = await _answer(client, "/nodes", admin)
    return FleetStatus(
        stats=ClusterStats.model_validate_json(stats),
        nodes=NODES.validate_json(nodes) if nodes is not None else None,
        jobs=JOBS.validate_json(jobs),
        freeze=FreezeState.model_validate_json(freeze),
    )


def _gib(value: float) -> str:
    return f"{value / 2**30:.1f} GiB"


def _ago(then: datetime | None) -> str:
    if then is None:
        return "-"
    seconds = max((datetime.now(UTC) - then).total_seconds(), 0)
    return f"{seconds:.0f}s ago" if seconds < 120 else f"{seconds / 60:.0f}m ago"


def _number(value: float | None, digits: int = 0) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def stats_table(stats: ClusterStats) -> Table:
    table = Table(title="cluster", show_header=False)
    table.add_column(style="bold")
    table.add_column(justify="right")
    table.add_row("nodes online", str(stats.nodes_online))
    table.add_row("nodes draining", str(stats.nodes_draining))
    table.add_row("total ips", _number(stats.total_ips))
    table.add_row("avg temperature", _number(stats.avg_temperature_c, 1) + " °C")
    table.add_row(
        "ram used / total", f"{_gib(stats.ram_used_bytes)} / {_gib(stats.ram_total_bytes)}"
    )
    table.add_row("jobs active", str(stats.jobs_active))
    table.add_row("as of", stats.as_of.isoformat())
    return table


def nodes_table(nodes: list[NodeView], limit: int) -> Table:
    ordered = sorted(nodes, key=lambda n: (STATUS_ORDER.get(n.status, 3), -n.ips))
    shown = ordered[:limit]
    caption = f"{len(nodes) - len(shown)} more not shown (--limit)" if len(nodes) > limit else None
    table = Table(title=f"nodes ({len(nodes)})", caption=caption)
    numeric = ("cores", "ops/s", "ips")
    for column in ("node", "status", "cpu", "cores", "ops/s", "ips", "last seen"):
        table.add_column(column, justify="right" if column in numeric else "left")
    colour = {"ready": "green", "draining": "yellow", "down": "red"}
    for node in shown:
        table.add_row(
            node.node_id,
            f"[{colour.get(node.status, 'white')}]{node.status}[/]",
            node.cpu_model,
            str(node.cores),
            _number(node.ops_per_sec),  # measured at registration (calibration)
            _number(node.ips),
            _ago(node.last_seen),
        )
    return table


def jobs_table(jobs: list[JobSummary]) -> Table:
    table = Table(title=f"jobs ({len(jobs)})")
    for column in ("job", "keyboard", "status", "best score", "results", "created"):
        table.add_column(column, justify="right" if column in ("best score", "results") else "left")
    for job in jobs:
        table.add_row(
            job.job_id[:12],
            job.keyboard_name or "-",
            job.status,
            _number(job.best_score, 3),
            str(job.results),
            job.created_at.isoformat(),
        )
    return table


def run(args: argparse.Namespace) -> int:
    targets = resolve_targets(args)
    try:
        status = asyncio.run(fetch_status(targets))
    except httpx.HTTPError as exc:
        print(f"keyforge: the hive at {targets.hive.url} did not answer: {exc}", file=sys.stderr)
        return 1
    except ValueError as exc:  # pydantic's ValidationError: not the protocol's answer
        print(f"keyforge: the hive at {targets.hive.url} answered oddly: {exc}", file=sys.stderr)
        return 1
    if args.json:
        sys.stdout.write(status.model_dump_json() + "\n")
        return 0
    console = Console()
    frozen = status.freeze.active
    console.print(describe_freeze(status.freeze), style="bold red" if frozen else None)
    console.print(stats_table(status.stats))
    if status.nodes is None:
        console.print("nodes: the node table needs the admin secret (--admin-secret-file)")
    else:
        console.print(nodes_table(status.nodes, args.limit))
    console.print(jobs_table(status.jobs))
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
