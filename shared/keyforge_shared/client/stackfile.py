"""``<data-dir>/stack.json``: every endpoint and dev credential of a running local fleet."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from keyforge_shared.private_files import write_private
from keyforge_shared.processes import pid_alive

STACK_FILE = "stack.json"


def stack_path(data_dir: Path) -> Path:
    return data_dir / STACK_FILE


def write_stack(data_dir: Path, stack: dict[str, Any]) -> None:
    """Atomically, and readable by its owner only: it holds the dev secrets."""
    write_private(stack_path(data_dir), json.dumps(stack, indent=2) + "\n")


def read_stack(data_dir: Path) -> dict[str, Any] | None:
    try:
        stack: dict[str, Any] = json.loads(stack_path(data_dir).read_text())
    except FileNotFoundError:
        return None
    return stack


def running_supervisor(data_dir: Path) -> int | None:
    """The PID of the ``keyforge up`` that owns this data dir, if it still runs."""
    stack = read_stack(data_dir)
    pid = stack.get("supervisor_pid") if stack else None
    return pid if isinstance(pid, int) and pid_alive(pid) else None


def remove_stack(data_dir: Path) -> None:
    stack_path(data_dir).unlink(missing_ok=True)
