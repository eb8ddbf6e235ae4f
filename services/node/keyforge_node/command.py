"""``keyforge node``: a real worker node, in the foreground or (``--background``) detached."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any

from keyforge_node.runner import PID_FILE, NodeOptions, run_node
from keyforge_shared.client.targets import add_target_arguments, resolve_targets
from keyforge_shared.processes import spawn

DETACH_WAIT_S = 10.0
LOG_FORMAT = "%(asctime)s keyforge node %(levelname)s %(message)s"


def default_state_dir() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "keyforge" / "node"


def _labels(pairs: list[str]) -> dict[str, str]:
    labels = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise SystemExit(f"keyforge: --label {pair!r} is not key=value")
        labels[key] = value
    return labels


def _detach(args: argparse.Namespace, state_dir: Path) -> int:
    """Start this same command without ``--background`` in its own session; report its pid."""
    # ``keyforge node ARGS`` and ``keyforge-node ARGS`` both detach into ``keyforge-node ARGS``.
    argv = [a for a in sys.argv[1 + args.subcommand_words :] if a != "--background"]
    log_file = state_dir / "node.log"
    child = spawn(
        [sys.executable, "-m", "keyforge_node", *argv], log_file=log_file, die_with_parent=False
    )
    pid_file = state_dir / PID_FILE
    deadline = time.monotonic() + DETACH_WAIT_S
    while time.monotonic() < deadline:
        if child.poll() is not None:
            print(f"keyforge: the node exited with {child.returncode}; see {log_file}")
            return child.returncode or 1
        if pid_file.exists() and pid_file.read_text().strip() == str(child.pid):
            break
        time.sleep(0.1)
    print(f"keyforge: node running in the background (pid {child.pid}), log {log_file}")
    return 0


def run(args: argparse.Namespace) -> int:
    targets = resolve_targets(args)
    state_dir: Path = (args.state_dir or default_state_dir()).resolve()
    if args.threads is not None and args.threads < 1:
        raise SystemExit("keyforge: --threads must be at least 1")
    if args.background:
        state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        return _detach(args, state_dir)
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT, force=True)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    options = NodeOptions(targets, state_dir, args.threads, _labels(args.label))
    return asyncio.run(run_node(options))


def add_commands(sub: Any) -> None:
    """``keyforge node`` in the full install's command."""
    node = sub.add_parser("node", help="run a worker node: register, heartbeat, optimise jobs")
    add_node_arguments(node)
    node.set_defaults(subcommand_words=1)


def add_node_arguments(node: argparse.ArgumentParser) -> None:
    add_target_arguments(node, assets=True)
    node.add_argument(
        "--state-dir", type=Path, help=f"id, asset cache (default {default_state_dir()})"
    )
    node.add_argument("--threads", type=int, help="worker processes (default: the hive's tuning)")
    node.add_argument("--label", action="append", default=[], help="key=value, repeatable")
    node.add_argument("--background", action="store_true", help="detach; log to the state dir")
    node.set_defaults(run=run, subcommand_words=0)
