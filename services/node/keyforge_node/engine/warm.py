"""Compile (or load) the search kernels before a node's first start.

    python -m keyforge_node.engine.warm --state-dir DIR --assets-dir data/system

On a fresh state dir a node's calibration compiles the kernels first: a
minute or more on a slow machine, once (they are cached in the state dir, or
in ``NUMBA_CACHE_DIR`` when that is set). Whoever starts nodes and has the
system assets on disk (``keyforge up --demo``, the test suite) runs this
beside its other start-up work, so the node finds them cached and searches at
once. It runs the node's own calibration loop briefly on the 30-key ortho
board with default weights and corpus, so the cache holds exactly the
kernels a node loads.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import time
from pathlib import Path
from typing import Any

from keyforge_node import engine

KEYBOARD = "keyboards/ortho_30.json"
MEASURE_S = 0.2


def warm(assets_dir: Path) -> str:
    """Compile or load every kernel; one line saying which engine and how long it took."""
    # Late: numba reads its cache location on import, after ``use_cache_dir``.
    from keyforge_node.calibration import measure_ops_per_sec  # noqa: PLC0415
    from keyforge_node.job_model import ModelRecipe  # noqa: PLC0415
    from keyforge_shared.job_scorer import spec_asset_paths  # noqa: PLC0415

    started = time.monotonic()
    config: dict[str, Any] = {
        "definition": json.loads((assets_dir / KEYBOARD).read_text()),
        "weights": {},
        "corpus_name": "default",
        "pinned_keys": "",
    }
    files = [
        (path, assets_dir / path, hashlib.sha256((assets_dir / path).read_bytes()).hexdigest())
        for path in spec_asset_paths(config)
    ]
    rate = measure_ops_per_sec(ModelRecipe.of(config, files), MEASURE_S)
    return f"{engine.describe()}: ready in {time.monotonic() - started:.1f} s, {rate:.0f} deltas/s"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--state-dir", type=Path, help="the node's state dir (its kernel cache)")
    parser.add_argument("--assets-dir", type=Path, required=True, help="the system assets")
    args = parser.parse_args(argv)
    if args.state_dir is not None:
        engine.use_cache_dir(args.state_dir)
    print(warm(args.assets_dir), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
