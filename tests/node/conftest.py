"""One compiled-kernel cache for every node a test session starts, warmed before the first.

A node compiles its numba kernels into its state dir when that has none;
two fresh nodes doing so at once on a loaded machine spend the first minute
compiling, past the functional bounds the stack tests assert. Tests that
start nodes request ``kernel_cache``: it points ``NUMBA_CACHE_DIR`` (which
nodes prefer to their state dir) at pytest's cache dir, so it outlives the
session and numba recompiles only what changed (a session temp dir when
that plugin is off), and fills it once, in a process of its own, before any
node starts. A ``NUMBA_CACHE_DIR`` set by the caller is kept.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from keyforge_node.engine import CACHE_ENV

REPO = Path(__file__).resolve().parents[2]
CACHE_NAME = "numba-kernels"
WARM_TIMEOUT_S = 900  # a cold compile on a machine shared with other work


@pytest.fixture(scope="session")
def kernel_cache(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Path]:
    cache = getattr(request.config, "cache", None)  # None under ``-p no:cacheprovider``
    lasting = cache.mkdir(CACHE_NAME) if cache is not None else None
    chosen = os.environ.get(CACHE_ENV) or str(lasting or tmp_path_factory.mktemp(CACHE_NAME))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(CACHE_ENV, chosen)
        warm = subprocess.run(
            [sys.executable, "-m", "tests.node.warm_kernels"],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=WARM_TIMEOUT_S,
            check=False,
        )
        assert warm.returncode == 0, warm.stdout + warm.stderr
        yield Path(chosen)
