"""``GET /metrics``: Prometheus text format, for scrapers inside the deployment."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import PlainTextResponse

from keyforge_hive.state import HiveDep

router = APIRouter(tags=["metrics"])


# Text, not JSON: the Prometheus exposition format (response_class documents it).
@router.get("/metrics", response_class=PlainTextResponse)
async def metrics(hive: HiveDep) -> str:
    samples = [
        ("keyforge_heartbeats_total", "counter", "Heartbeats stored", hive.heartbeats.beats),
        (
            "keyforge_heartbeat_batches_total",
            "counter",
            "Heartbeat script calls",
            hive.heartbeats.batches,
        ),
        (
            "keyforge_last_seen_flushes_total",
            "counter",
            "Batched nodes.last_seen writes",
            hive.last_seen.batches,
        ),
        ("keyforge_sse_clients", "gauge", "Connected SSE clients", len(hive.fanout.subscribers)),
        (
            "keyforge_sse_clients_dropped_total",
            "counter",
            "SSE clients dropped for not reading",
            hive.fanout.dropped_clients,
        ),
        (
            "keyforge_sse_refused_total",
            "counter",
            "SSE streams refused at the per-address cap",
            hive.stream_leases.refused,
        ),
        (
            "keyforge_events_read_total",
            "counter",
            "Events read from the bus",
            hive.fanout.delivered,
        ),
    ]
    lines = []
    for name, kind, help_text, value in samples:
        lines += [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}", f"{name} {value}"]
    return "\n".join(lines) + "\n"
