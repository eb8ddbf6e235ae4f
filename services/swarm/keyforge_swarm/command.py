"""``keyforge swarm``: N light simulated nodes in one process, for load, fault and rotation tests.

Every node shares one keep-alive connection pool (``FastHttpClient``): the
swarm measures the fleet, not its own HTTP stack. Nodes start spread over
one heartbeat interval, as independent machines would. Results go out at
``--submit-rate`` per second across the swarm, each in the name of a node
that holds a lease: the job's reference layout, scored once per job by the
hive (``POST /score``), so a submission costs the swarm no CPU. At the end
of ``--duration``, or earlier on SIGTERM or Ctrl-C, it prints a summary
(``--json``: the contract's line) and exits 1 if any request failed. The
nodes' tokens are kept in the stack's data dir (``--tokens-file``), so a
later run is the same nodes again.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import random
import sys
import time
from pathlib import Path
from typing import Any

from rich.console import Console

from keyforge_shared.client.backoff import pause, stop_on_signals
from keyforge_shared.client.targets import add_target_arguments, resolve_targets
from keyforge_shared.heap import settle_after_startup
from keyforge_swarm.fasthttp import fast_client
from keyforge_swarm.report import Recorder
from keyforge_swarm.sim_node import DEFAULT_INTERVAL_S, SimNode, Swarm
from keyforge_swarm.tokens import FILE_NAME, load_tokens, save_tokens

log = logging.getLogger(__name__)

MAX_CONNECTIONS = 64
STOP_GRACE_S = 20.0  # for requests in flight when the duration ends


async def submit_results(swarm: Swarm, rate: float) -> None:
    """``rate`` results per second, each from a random node that holds a lease."""
    pending: set[asyncio.Task[None]] = set()
    while rate > 0 and not await pause(swarm.stopping, 1.0 / rate):
        if swarm.leased:
            node = swarm.rng.choice(list(swarm.leased.values()))
            task = asyncio.create_task(node.submit())
            pending.add(task)
            task.add_done_callback(pending.discard)
    await asyncio.gather(*pending)


async def run_swarm(args: argparse.Namespace) -> Recorder:
    targets = resolve_targets(args)
    if targets.node_secret is None:
        raise SystemExit("keyforge: no node secret: give --secret-file or set HIVE_SECRET")
    size = args.connections or min(args.nodes, MAX_CONNECTIONS)
    # Idle connections are dropped before the 5 s keep-alive of uvicorn and Apache ends.
    client = fast_client(targets.hive, size=size, timeout_s=30.0, max_idle_s=3.0)
    swarm = Swarm(client, targets.node_secret, Recorder(), asyncio.Event())
    spread_s = min(DEFAULT_INTERVAL_S, args.duration / 3)
    tokens_file = tokens_path(args)
    kept = load_tokens(tokens_file)
    bases = [f"{args.id_prefix}-{i:05d}" for i in range(args.nodes)]
    nodes = [SimNode(swarm, *kept.get(base, (base, None))) for base in bases]
    tasks = [asyncio.create_task(n.run(random.uniform(0, spread_s))) for n in nodes]  # noqa: S311
    tasks.append(asyncio.create_task(submit_results(swarm, args.submit_rate)))
    # Thousands of nodes in one process: its collector's pauses would read as hive latency.
    settle_after_startup()
    stop_on_signals(swarm.stopping)
    try:
        await pause(swarm.stopping, args.duration)
    finally:
        swarm.stopping.set()
        swarm.recorder.finished = time.monotonic()
        _, unfinished = await asyncio.wait(tasks, timeout=STOP_GRACE_S)
        for task in unfinished:
            task.cancel()
        await client.aclose()
        kept.update({b: (n.node_id, n.token) for b, n in zip(bases, nodes, strict=True) if n.token})
        save_tokens(tokens_file, kept)
    return swarm.recorder


def tokens_path(args: argparse.Namespace) -> Path | None:
    """``--tokens-file``, else the file in ``--stack``'s data dir; None: kept in memory only."""
    if args.tokens_file is not None:
        return Path(args.tokens_file)
    stack_dir: Path | None = getattr(args, "stack", None)
    return stack_dir / FILE_NAME if stack_dir is not None else None


def run(args: argparse.Namespace) -> int:
    if args.nodes < 1 or args.duration <= 0 or args.submit_rate < 0:
        raise SystemExit("keyforge: --nodes ≥ 1, --duration > 0 and --submit-rate ≥ 0, please")
    recorder = asyncio.run(run_swarm(args))
    summary = recorder.summary()
    if args.json:
        sys.stdout.write(json.dumps(summary, separators=(",", ":")) + "\n")
    else:
        recorder.print_human(Console(), args.nodes)
    return 0 if summary["failed"] == 0 else 1


def add_commands(sub: Any) -> None:
    swarm = sub.add_parser("swarm", help="simulate N light nodes against a hive, for load")
    add_target_arguments(swarm)
    swarm.add_argument("--nodes", type=int, required=True)
    swarm.add_argument("--duration", type=float, default=30.0, help="seconds (default 30)")
    swarm.add_argument(
        "--submit-rate", type=float, default=2.0, help="results per second, swarm-wide (default 2)"
    )
    swarm.add_argument("--json", action="store_true", help="print the summary as one JSON line")
    swarm.add_argument("--connections", type=int, help=f"pool size (default ≤ {MAX_CONNECTIONS})")
    swarm.add_argument("--id-prefix", default="swarm", help="node ids are <prefix>-00000 ...")
    swarm.add_argument(
        "--tokens-file",
        help=f"where the nodes' tokens are kept between runs (default: the stack's {FILE_NAME})",
    )
    swarm.set_defaults(run=run)
