"""Compile (or load) the node's search kernels into ``NUMBA_CACHE_DIR`` and exit.

    NUMBA_CACHE_DIR=some/dir python -m tests.node.warm_kernels

Runs the node's own calibration loop briefly on the system ortho_30 job, so the
cache holds exactly the kernels (and signatures) a node's calibration and
workers load. The node-stack fixtures run this once per session before any
node starts: two fresh nodes compiling at once on a busy machine take longer
than the tests' functional time bounds.
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import Any

from keyforge_node import engine
from keyforge_node.calibration import measure_ops_per_sec
from keyforge_node.job_model import ModelRecipe
from keyforge_shared.job_scorer import spec_asset_paths

SYSTEM = Path(__file__).resolve().parents[2] / "data" / "system"
MEASURE_S = 0.2


def recipe() -> ModelRecipe:
    config: dict[str, Any] = {
        "definition": json.loads((SYSTEM / "keyboards" / "ortho_30.json").read_text()),
        "weights": {},
        "corpus_name": "default",
        "pinned_keys": "",
    }
    files = [
        (p, SYSTEM / p, hashlib.sha256((SYSTEM / p).read_bytes()).hexdigest())
        for p in spec_asset_paths(config)
    ]
    return ModelRecipe.of(config, files)


def main() -> None:
    started = time.monotonic()
    rate = measure_ops_per_sec(recipe(), MEASURE_S)
    print(f"{engine.describe()}: ready in {time.monotonic() - started:.1f} s, {rate:.0f} deltas/s")


if __name__ == "__main__":
    main()
