"""A node's life: claim the state dir, calibrate, register, run the loops, stop in bounded time.

Stopping (SIGTERM, Ctrl-C): the work loop finishes its running batch (about
a second) or is abandoned after ``STOP_GRACE_S``; the best result found is
in the outbox, which gets ``FLUSH_GRACE_S`` to reach the hive and otherwise
stays in ``outbox.json`` for the next start. The node deregisters nothing:
its id, its leases (they expire) and its accepted results stay the hive's.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from keyforge_node import engine
from keyforge_node.asset_cache import AssetCache, AssetRefused, AssetUnavailable
from keyforge_node.calibration import calibration_recipe, measure_in_child
from keyforge_node.hardware import Hardware, detect_hardware
from keyforge_node.heartbeat import WorkMeter, heartbeat_loop
from keyforge_node.hive_client import HiveClient
from keyforge_node.identity import NodeIdentity, lock_state_dir
from keyforge_node.outbox import Outbox
from keyforge_node.session import NodeSession, report
from keyforge_node.submitter import ResultSender
from keyforge_node.work import WorkLoop
from keyforge_node.workers import BACKGROUND_NICENESS, WORKER_NICENESS, WorkerPool
from keyforge_shared.client.backoff import Backoff, pause, stop_on_signals
from keyforge_shared.client.endpoints import async_client
from keyforge_shared.client.targets import Targets
from keyforge_shared.protocol.fleet import EffectiveConfig
from keyforge_shared.protocol.nodes import NodeRegistration

log = logging.getLogger(__name__)

STOP_GRACE_S = 3.0
FLUSH_GRACE_S = 3.0
PID_FILE = "node.pid"
ASSET_DIR = "assets"


@dataclass(frozen=True)
class NodeOptions:
    targets: Targets
    state_dir: Path
    threads: int | None
    labels: dict[str, str]


async def calibrate(cache: AssetCache, stopping: asyncio.Event) -> float | None:
    """Swap deltas per second of one process; None if the node stopped first."""
    backoff = Backoff()
    while not stopping.is_set():
        try:
            recipe = await calibration_recipe(cache)
        except (AssetUnavailable, AssetRefused) as exc:
            report("fetching the calibration assets", exc, backoff.failures + 1)
            await pause(stopping, backoff.next_delay())
            continue
        rate = await measure_in_child(recipe, stopping)
        if rate is None:
            return None
        log.info("calibrated: %.0f swap deltas per second per process", rate)
        return rate
    return None


def worker_plan(config: EffectiveConfig, local_threads: int) -> tuple[int, int]:
    """Worker processes and their niceness: the hive's ``thread_count`` when an operator set
    one (fleet, group or node layer), else this machine's own choice; background mode runs
    them at the lowest priority and one fewer, leaving a core to the machine's owner."""
    threads = config.thread_count or local_threads
    if config.background:
        return max(threads - 1, 1), BACKGROUND_NICENESS
    return max(threads, 1), WORKER_NICENESS


def registration(
    node_id: str, hardware: Hardware, ops: float, labels: dict[str, str]
) -> NodeRegistration:
    return NodeRegistration(
        node_id=node_id,
        cpu_model=hardware.cpu_model,
        cores=hardware.cores,
        l2_cache_kb=hardware.l2_cache_kb,
        ops_per_sec=round(ops, 1),
        arch=hardware.arch,
        ram_total_bytes=hardware.ram_total_bytes,
        labels=labels,
    )


async def run_node(options: NodeOptions) -> int:
    state_dir = options.state_dir.resolve()
    lock = lock_state_dir(state_dir)
    try:
        (state_dir / PID_FILE).write_text(f"{os.getpid()}\n")
        return await _run(options, state_dir)
    finally:
        (state_dir / PID_FILE).unlink(missing_ok=True)
        lock.close()


async def _run(options: NodeOptions, state_dir: Path) -> int:
    targets = options.targets
    if targets.node_secret is None:
        raise SystemExit("keyforge: no node secret: give --secret-file or set HIVE_SECRET")
    if targets.assets is None:
        raise SystemExit("keyforge: cannot tell where the asset gateway is: give --assets")
    stopping = asyncio.Event()
    stop_on_signals(stopping)
    identity = NodeIdentity.load(state_dir)
    node_id = identity.node_id
    hardware = detect_hardware()
    log.info(
        "node %s on %s (%d cores), state in %s",
        node_id,
        hardware.cpu_model,
        hardware.cores,
        state_dir,
    )
    async with (
        async_client(targets.hive, timeout_s=15.0) as hive_http,
        async_client(targets.assets, timeout_s=30.0) as assets_http,
    ):
        cache = AssetCache(state_dir / ASSET_DIR, assets_http)
        engine.use_cache_dir(state_dir)
        engine.announce()
        rate = await calibrate(cache, stopping)
        if rate is None:
            return 0
        planned = options.threads or max(hardware.cores - 1, 1)
        session = NodeSession(
            HiveClient(hive_http, targets.node_secret, identity.token),
            node_id,
            registration(node_id, hardware, rate * planned, options.labels),
            stopping,
            identity=identity,
        )
        await session.register()
        if stopping.is_set():
            return 0
        hive_threads = session.tuning.thread_count if session.tuning else planned
        local_threads = options.threads or hive_threads
        threads, niceness = worker_plan(session.config, local_threads)
        pool = WorkerPool(threads, niceness=niceness)

        def resize(config: EffectiveConfig) -> None:
            size, nice = worker_plan(config, local_threads)
            if pool.resize(size, niceness=nice):
                log.info("working with %d worker process(es) at niceness %d", size, nice)

        session.on_config = resize
        try:
            await _serve(session, cache, pool, Outbox(state_dir), rate)
        finally:
            pool.close(wait=False)
    log.info("stopped")
    return 0


async def _serve(
    session: NodeSession, cache: AssetCache, pool: WorkerPool, outbox: Outbox, rate: float
) -> None:
    meter = WorkMeter()
    work = WorkLoop(session, cache, pool=pool, outbox=outbox, meter=meter, process_rate=rate)
    sender = ResultSender(session.hive, outbox, session.node_id, work.lease_refused)
    log.info("working with %d worker process(es) at niceness %d", pool.size, pool.niceness)
    loops: dict[str, Coroutine[Any, Any, None]] = {
        "work": work.run(),
        "heartbeat": heartbeat_loop(session, meter, work.current_job),
        "submit": sender.run(),
    }
    tasks = {name: asyncio.create_task(coro, name=name) for name, coro in loops.items()}
    stop_wait = asyncio.create_task(session.stopping.wait())
    done, _ = await asyncio.wait([stop_wait, *tasks.values()], return_when=asyncio.FIRST_COMPLETED)
    for task in done:
        if task is not stop_wait and not task.cancelled() and task.exception() is not None:
            log.error("the %s loop crashed: %r", task.get_name(), task.exception())
    session.stopping.set()
    stop_wait.cancel()
    try:
        await asyncio.wait_for(tasks["work"], STOP_GRACE_S)
    except TimeoutError:
        log.warning("abandoned the running batch after %.0fs", STOP_GRACE_S)
    except Exception as exc:
        log.error("the work loop crashed: %r", exc)
    await _flush(outbox, FLUSH_GRACE_S)
    for task in tasks.values():
        task.cancel()
    await asyncio.gather(*tasks.values(), return_exceptions=True)


async def _flush(outbox: Outbox, grace_s: float) -> None:
    """Give the sender ``grace_s`` to deliver what is pending; the rest waits in outbox.json."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(outbox.emptied.wait(), grace_s)
    if outbox.pending():
        count = len(outbox.pending())
        log.info("%d result(s) unsent; kept in %s for the next start", count, outbox.path)
