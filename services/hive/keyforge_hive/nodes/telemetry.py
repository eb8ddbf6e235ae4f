"""Node telemetry as stored in Valkey: one short delimited string per heartbeat key.

Not JSON: ``get_cluster_stats`` decodes one of these per live node, and at
10 000 nodes a split beats a JSON parse by several times.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from keyforge_shared.protocol.nodes import HeartbeatIn


@dataclass(frozen=True, slots=True)
class Telemetry:
    ips: float
    temperature_c: float | None
    ram_used_bytes: int | None
    ram_total_bytes: int | None
    job_id: str | None


def _opt(value: object) -> str:
    return "" if value is None else repr(value) if isinstance(value, float) else str(value)


def encode_telemetry(beat: HeartbeatIn) -> bytes:
    fields = (beat.ips, beat.temperature_c, beat.ram_used_bytes, beat.ram_total_bytes, beat.job_id)
    return "|".join(_opt(f) for f in fields).encode()


def decode_telemetry(raw: bytes) -> Telemetry:
    ips, temp, used, total, job = raw.decode().split("|", 4)
    return Telemetry(
        ips=float(ips) if ips else 0.0,
        temperature_c=float(temp) if temp else None,
        ram_used_bytes=int(used) if used else None,
        ram_total_bytes=int(total) if total else None,
        job_id=job or None,
    )


def sum_telemetry(telemetry: list[bytes | None]) -> tuple[float, float | None, int, int]:
    """Sums over raw telemetry strings, without building an object per node."""
    ips: list[float] = []
    temps: list[float] = []
    ram_used = ram_total = 0
    for raw in telemetry:
        if raw is None:
            continue
        fields = raw.split(b"|", 4)
        ips.append(float(fields[0]) if fields[0] else 0.0)
        if fields[1]:
            temps.append(float(fields[1]))
        if fields[2]:
            ram_used += int(fields[2])
        if fields[3]:
            ram_total += int(fields[3])
    avg_temp = math.fsum(temps) / len(temps) if temps else None
    return math.fsum(ips), avg_temp, ram_used, ram_total
