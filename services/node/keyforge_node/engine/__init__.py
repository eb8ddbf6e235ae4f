"""The node's search engine: compiled (numba) where it can be, the Python engine otherwise.

``run_batch`` is the one entry point workers and calibration call. The
compiled engine (``engine.tempering`` over ``engine.kernels``) runs parallel
tempering with whole batches in machine code; where numba cannot be imported,
``KEYFORGE_ENGINE=python`` is set, or an alphabet places too many characters
for the dense trigram table, the Python engine (``keyforge_node.annealing``)
runs instead. Both end every batch with
exact full scores, so they submit the same numbers for the same layouts.

numba reads its cache location when it is first imported: the node calls
``use_cache_dir`` with its state dir before that (worker processes inherit the
environment), so a restarted node loads its kernels instead of recompiling.
"""

from __future__ import annotations

import logging
import os
from functools import cache
from pathlib import Path
from types import ModuleType

from keyforge_node import annealing
from keyforge_node.annealing import Chain, Schedule
from keyforge_shared.job_scorer import JobScorer

log = logging.getLogger(__name__)

ENGINE_ENV = "KEYFORGE_ENGINE"  # "python" forces the fallback engine
CACHE_ENV = "NUMBA_CACHE_DIR"
CACHE_DIR = "numba-cache"


def use_cache_dir(state_dir: Path) -> None:
    """Compiled kernels are cached under the state dir unless the environment says otherwise."""
    os.environ.setdefault(CACHE_ENV, str(state_dir / CACHE_DIR))


@cache
def _compiled() -> tuple[ModuleType | None, str]:
    """The compiled engine's module, or None and why not."""
    if os.environ.get(ENGINE_ENV, "").strip().lower() == "python":
        return None, f"{ENGINE_ENV}=python"
    try:
        from keyforge_node.engine import tempering  # noqa: PLC0415 - numba loads here, late
    except ImportError as exc:
        return None, f"numba cannot be imported ({exc})"
    return tempering, ""


def compiled_available() -> bool:
    return _compiled()[0] is not None


def describe() -> str:
    """What ``announce`` logs: which engine this process runs."""
    module, why = _compiled()
    if module is None:
        return f"Python engine ({why})"
    import numba  # noqa: PLC0415

    return f"compiled engine (numba {numba.__version__}, parallel tempering)"


def announce() -> None:
    """Say once, in the node's log, which engine searches (a warning for the fallback)."""
    if compiled_available():
        log.info("search: %s", describe())
    else:
        log.warning("search falls back to the %s; scores are the same, only slower", describe())


def run_batch(job: JobScorer, chain: Chain, schedule: Schedule, steps: int) -> tuple[Chain, int]:
    """Advance ``chain`` by about ``steps`` swap attempts; returns it and the deltas priced."""
    module = _compiled()[0]
    if module is not None and module.supports(job):
        result: tuple[Chain, int] = module.run_batch(job, chain, schedule, steps)
        return result
    return annealing.run_batch(job, chain, schedule, steps)
