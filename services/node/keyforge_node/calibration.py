"""How fast this machine really optimises: measured at start-up, never hard-coded.

The original reported a fixed speed. Here the node runs its own annealing
loop for a couple of seconds on the fleet's default job (the 30-key ortho
geometry, default weights and corpus, fetched and verified like any job's
assets) and counts swap deltas priced per second: the unit the hive's tuning
thresholds and the heartbeats' ``ips`` use. It is the engine the workers
will run (compiled where numba is available), measured after one small
warm-up batch so loading or compiling the kernels is not counted. One process
is measured; the node reports that rate times the worker processes it will run.
"""

from __future__ import annotations

import json
import random
import time
from typing import Any

from keyforge_node.annealing import Chain, Schedule
from keyforge_node.asset_cache import AssetCache, AssetUnavailable
from keyforge_node.engine import run_batch
from keyforge_node.job_model import ModelRecipe, build_job_model
from keyforge_shared.job_scorer import spec_asset_paths

CALIBRATION_S = 2.0
CHUNK_STEPS = 2_000
WARM_UP_STEPS = 100
CHUNK_MIN_S = 0.1
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
    chain, _ = run_batch(job, chain, schedule, WARM_UP_STEPS)
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
