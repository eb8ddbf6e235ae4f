"""What the node runs on (for registration) and how it is doing (for heartbeats)."""

from __future__ import annotations

import os
import platform
from dataclasses import dataclass
from pathlib import Path

import psutil

CPUINFO = Path("/proc/cpuinfo")
CPU_CACHE = Path("/sys/devices/system/cpu/cpu0/cache")
# /proc/cpuinfo names the model differently per architecture.
MODEL_FIELDS = ("model name", "hardware", "processor", "cpu model", "cpu")


@dataclass(frozen=True)
class Hardware:
    cpu_model: str
    cores: int  # logical
    l2_cache_kb: int | None
    arch: str
    ram_total_bytes: int


def cpu_model(cpuinfo: str | None = None) -> str:
    if cpuinfo is None:
        try:
            cpuinfo = CPUINFO.read_text(encoding="utf-8", errors="replace")
        except OSError:
            cpuinfo = ""
    fields: dict[str, str] = {}
    for line in cpuinfo.splitlines():
        name, sep, value = line.partition(":")
        if sep and value.strip():
            fields.setdefault(name.strip().lower(), value.strip())
    for name in MODEL_FIELDS:
        value = fields.get(name, "")
        if value and not value.isdigit():  # x86 "processor" is the CPU's index
            return value[:200]
    return (platform.processor() or platform.machine() or "unknown CPU")[:200]


def parse_cache_size(text: str) -> int | None:
    """``1024K`` / ``2M`` / ``512`` (bytes? sysfs always says K) to KB."""
    text = text.strip().upper()
    units = {"K": 1, "M": 1024, "G": 1024 * 1024}
    if text and text[-1] in units and text[:-1].isdigit():
        return int(text[:-1]) * units[text[-1]]
    return int(text) // 1024 if text.isdigit() else None


def l2_cache_kb(cache_dir: Path = CPU_CACHE) -> int | None:
    """CPU 0's level-2 cache where sysfs describes it, else None (the hive accepts null)."""
    for index in sorted(cache_dir.glob("index*")):
        try:
            level = (index / "level").read_text().strip()
            kind = (index / "type").read_text().strip()
            size = (index / "size").read_text()
        except OSError:
            continue
        if level == "2" and kind in ("Unified", "Data"):
            return parse_cache_size(size)
    return None


def detect_hardware() -> Hardware:
    return Hardware(
        cpu_model=cpu_model(),
        cores=max(os.cpu_count() or 1, 1),
        l2_cache_kb=l2_cache_kb(),
        arch=(platform.machine() or "unknown")[:32],
        ram_total_bytes=psutil.virtual_memory().total,
    )


def temperature_c() -> float | None:
    """The hottest CPU sensor where the OS exposes one (Linux, FreeBSD), else None."""
    read = getattr(psutil, "sensors_temperatures", None)
    if read is None:
        return None
    try:
        sensors = read()
    except (OSError, RuntimeError):
        return None
    preferred = [
        sensors[name] for name in ("coretemp", "k10temp", "cpu_thermal") if name in sensors
    ]
    readings = [t.current for group in preferred or sensors.values() for t in group]
    valid = [r for r in readings if -100 <= r <= 200]
    return round(max(valid), 1) if valid else None


def ram_usage() -> tuple[int, int]:
    """(used, total) bytes of this machine's memory, used meaning not available."""
    memory = psutil.virtual_memory()
    return memory.total - memory.available, memory.total
