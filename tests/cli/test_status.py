"""``keyforge status`` tables from canned answers (the real stack's are in test_node_stack)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from rich.console import Console

from keyforge_cli.status import jobs_table, nodes_table, stats_table
from keyforge_shared.protocol.cluster import ClusterStats
from keyforge_shared.protocol.jobs import JobSummary
from keyforge_shared.protocol.nodes import NodeView

STATS = {
    "nodes_online": 2,
    "nodes_draining": 1,
    "total_ips": 61234.5,
    "avg_temperature_c": None,
    "ram_used_bytes": 3 * 2**30,
    "ram_total_bytes": 16 * 2**30,
    "jobs_active": 1,
    "as_of": "2026-01-01T00:00:00+00:00",
}


def rendered(*tables: object) -> str:
    console = Console(record=True, width=160)
    for table in tables:
        console.print(table)
    return console.export_text()


def node(node_id: str, status: str, ips: float) -> NodeView:
    seen = (datetime.now(UTC) - timedelta(seconds=5)).isoformat()
    return NodeView.model_validate(
        {
            "node_id": node_id,
            "cpu_model": "AMD EPYC",
            "cores": 2,
            "status": status,
            "last_seen": seen,
            "ops_per_sec": 1_234_567.0,
            "ips": ips,
            "labels": {},
        }
    )


def test_stats_nodes_and_jobs_read_as_tables() -> None:
    nodes = [node("slow", "ready", 10.0), node("gone", "down", 0.0), node("fast", "ready", 9e4)]
    jobs = [
        JobSummary.model_validate(
            {
                "job_id": "ab" * 32,
                "status": "active",
                "created_at": "2026-01-01T00:00:00+00:00",
                "best_score": 1584.2021,
                "results": 7,
                "keyboard_name": "Ortho 30",
            }
        )
    ]
    text = rendered(
        stats_table(ClusterStats.model_validate(STATS)),
        nodes_table(nodes, limit=2),
        jobs_table(jobs),
    )
    assert "61,234" in text
    assert "ops/s" in text
    assert "1,234,567" in text  # the node's calibrated rate
    assert "3.0 GiB / 16.0 GiB" in text
    assert text.index("fast") < text.index("slow")  # ready first, busiest first
    assert "gone" not in text
    assert "1 more not shown" in text
    assert "5s ago" in text
    assert "abababababab" in text
    assert "1,584.202" in text
