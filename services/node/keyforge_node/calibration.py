"""How fast this machine really optimises: measured at start-up, never hard-coded.

The original reported a fixed speed. Here the node runs its own annealing
loop for a couple of seconds on the fleet's default job (the 30-key ortho
geometry, default weights and corpus, fetched and verified like any job's
assets) and counts swap deltas priced per second: the unit the hive's tuning
thresholds and the heartbeats' ``ips`` use. It is the engine the workers
will run (compiled where numba is available), measured after one small
warm-up batch so loading or compiling the kernels is not counted. One process
is measured; the node reports that rate times the worker processes it will run.

The measurement runs in a child process of its own: on a fresh state dir
numba compiles the kernels first (tens of seconds on a busy machine), and a
thread could not be interrupted, so a node told to stop kills the child and
exits within a second. The kernels it compiled stay in the on-disk cache for
the workers.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import random
import time
from multiprocessing.connection import Connection
from typing import Any

from keyforge_node.annealing import Chain, Schedule
from keyforge_node.asset_cache import AssetCache, AssetUnavailable
from keyforge_node.engine import run_batch
from keyforge_node.job_model import ModelRecipe, build_job_model
from keyforge_node.workers import WORKER_NICENESS, init_worker
from keyforge_shared.client.backoff import pause
from keyforge_shared.job_scorer import spec_asset_paths

CALIBRATION_S = 2.0
CHUNK_STEPS = 2_000
WARM_UP_STEPS = 100
CHUNK_MIN_S = 0.1
POLL_S = 0.2
CHILD_EXIT_S = 5.0
PREFERRED_KEYBOARD = "keyboards/ortho_30.json"
DEFAULT_CORPUS = "default"


async def calibration_recipe(cache: AssetCache) -> ModelRecipe:
    """The default job's recipe, its files fetched into the cache and verified."""
    manifest = await cache.manifest()
    keyboards = sorted(p for p in manifest if p.startswith("keyboards/") and p.endswith(".json"))
    if not keyboards:
        raise AssetUnavailable("the asset manifest lists no keyboard to calibrate with")
    board = PREFERRED_KEYBOARD if PREFERRED_KEYBOARD in keyboards else keyboards[0]
    definition = json.loads((await cache.fetch(board, manifest[board])).read_bytes())
    config: dict[str, Any] = {
        "definition": definition,
        "weights": {},
        "corpus_name": DEFAULT_CORPUS,
    }
    files = []
    for path in spec_asset_paths(config):
        if path not in manifest:
            raise AssetUnavailable(f"the asset manifest lacks {path}")
        files.append((path, await cache.fetch(path, manifest[path]), manifest[path]))
    return ModelRecipe.of(config, files)


def measure_ops_per_sec(recipe: ModelRecipe, seconds: float = CALIBRATION_S) -> float:
    """Swap deltas per second of one process running the real annealing loop (CPU-bound)."""
    job = build_job_model(recipe)
    layout = list(job.reference)
    random.Random(7).shuffle(layout)  # noqa: S311 - a fixed, fair test layout
    chain = Chain(job.with_pins(layout), seed=7)
    schedule = Schedule.from_params({})
    # Warm up through an epoch's end: every kernel (the polish included) is compiled, or
    # loaded from the cache, before the clock starts. On a cold cache a compile inside
    # the timed loop made the rate 25 times too low.
    chunk = WARM_UP_STEPS
    while chain.epoch == 0:
        chain, _ = run_batch(job, chain, schedule, chunk)
        chunk *= 2
    ops = 0
    started = time.perf_counter()
    chunk = CHUNK_STEPS
    while (elapsed := time.perf_counter() - started) < seconds:
        before = time.perf_counter()
        chain, done = run_batch(job, chain, schedule, chunk)
        ops += done
        if time.perf_counter() - before < CHUNK_MIN_S:
            chunk *= 2  # batches as long as the work loop's, so per-batch costs weigh alike
    return ops / elapsed


class CalibrationFailed(RuntimeError):
    """The measuring process died without an answer."""


async def measure_in_child(recipe: ModelRecipe, stopping: asyncio.Event) -> float | None:
    """``measure_ops_per_sec`` in a child process; None (the child killed) if the node stops."""
    context = multiprocessing.get_context("spawn")  # never fork a process with an event loop
    reader, writer = context.Pipe(duplex=False)
    child = context.Process(target=_measure_into, args=(writer, recipe), daemon=True)
    child.start()
    writer.close()
    try:
        while not await pause(stopping, POLL_S):
            if reader.poll():
                rate: float = reader.recv()
                return rate
            if not child.is_alive() and not reader.poll():
                raise CalibrationFailed(f"the calibration process exited with {child.exitcode}")
        return None
    except EOFError as exc:
        raise CalibrationFailed("the calibration process closed its pipe") from exc
    finally:
        if child.is_alive():
            child.kill()
        await asyncio.to_thread(child.join, CHILD_EXIT_S)
        reader.close()


def _measure_into(writer: Connection, recipe: ModelRecipe) -> None:
    init_worker(WORKER_NICENESS)  # the workers' niceness, and gone with the node
    writer.send(measure_ops_per_sec(recipe))
    writer.close()
