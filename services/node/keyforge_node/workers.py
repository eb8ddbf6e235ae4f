"""Worker processes that run search batches, one chain each, away from the node's event loop.

Each worker builds a job's model once from its recipe (files re-verified by
hash as they are read) and keeps the last few. Workers run at a lower
priority than the node's own network loops (the lowest the OS has in
background mode), ignore the terminal's Ctrl-C and SIGTERM (the node decides
when a batch ends), and die with the node if it is killed outright.

Resizing (the hive's node config changed) starts a fresh pool of the new
size and priority for the next batches; the old one finishes the batches it
runs and then exits, so no batch is cut short.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import multiprocessing
import os
import signal
from collections import OrderedDict
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from keyforge_node.annealing import Chain, Schedule
from keyforge_node.engine import run_batch
from keyforge_node.job_model import ModelRecipe, build_job_model
from keyforge_shared.job_scorer import JobScorer

WORKER_NICENESS = 10
BACKGROUND_NICENESS = 19  # the lowest priority a process can have
MODELS_PER_WORKER = 2
PR_SET_PDEATHSIG = 1

# Per worker process: the models it built, by recipe key (never used in the node itself).
_models: OrderedDict[str, JobScorer] = OrderedDict()


def init_worker(niceness: int) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    with contextlib.suppress(OSError):
        os.nice(niceness - os.nice(0))


def _model_for(recipe: ModelRecipe) -> JobScorer:
    job = _models.get(recipe.key)
    if job is None:
        job = build_job_model(recipe)
        _models[recipe.key] = job
        while len(_models) > MODELS_PER_WORKER:
            _models.popitem(last=False)
    _models.move_to_end(recipe.key)
    return job


def _batch(recipe: ModelRecipe, chain: Chain, schedule: Schedule, steps: int) -> tuple[Chain, int]:
    return run_batch(_model_for(recipe), chain, schedule, steps)


class WorkerPool:
    def __init__(self, size: int, *, niceness: int = WORKER_NICENESS) -> None:
        self.size = size
        self.niceness = niceness
        self._pool = self._start()

    def _start(self) -> ProcessPoolExecutor:
        # spawn: the node's process has threads and an event loop; never fork those.
        context = multiprocessing.get_context("spawn")
        return ProcessPoolExecutor(
            self.size, mp_context=context, initializer=init_worker, initargs=(self.niceness,)
        )

    def resize(self, size: int, *, niceness: int) -> bool:
        """Run the next batches on ``size`` workers at ``niceness``; True if that changed."""
        if (size, niceness) == (self.size, self.niceness):
            return False
        old = self._pool
        self.size, self.niceness = size, niceness
        self._pool = self._start()
        old.shutdown(wait=False)  # its running batches finish; then its workers exit
        return True

    async def run_batch(
        self, recipe: ModelRecipe, chain: Chain, schedule: Schedule, steps: int
    ) -> tuple[Chain, int]:
        loop = asyncio.get_running_loop()
        pool = self._pool
        try:
            return await loop.run_in_executor(pool, _batch, recipe, chain, schedule, steps)
        except BrokenProcessPool:
            # A worker died (out of memory, killed): start fresh ones, once for all the
            # batches that broke with it; the caller's chain is unharmed.
            if self._pool is pool:
                pool.shutdown(wait=False, cancel_futures=True)
                self._pool = self._start()
            raise

    def close(self, *, wait: bool) -> None:
        self._pool.shutdown(wait=wait, cancel_futures=True)
