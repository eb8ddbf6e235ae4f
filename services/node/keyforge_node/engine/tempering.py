"""Parallel tempering with the compiled kernels: the same ``Chain`` and ``Schedule`` as the
Python engine, R replicas instead of one annealed layout.

A chain holds a ladder of replicas at fixed temperatures, geometric from the
job's ``temp_min`` (coldest, replica 0) to ``temp_max`` (hottest), with rungs
about ``RUNG_RATIO`` apart (``MIN_REPLICAS``..``MAX_REPLICAS`` of them). Each
round every replica makes one Metropolis swap attempt; every
``EXCHANGE_EVERY`` rounds neighbours exchange states by the replica-exchange
rule, so what hot replicas find flows down to the cold ones. The job's other
parameters keep the meaning they have in ``keyforge_node.annealing``:
``search_steps`` is an epoch's length (rounds), at whose end the best is
polished (``opt_limit_fast`` passes) and handed to the coldest replica;
``search_epochs`` and ``search_patience`` / ``search_patience_threshold``
decide when the chain is exhausted and the node reseeds it from the job's
population. A batch ends with exact full scores of every replica and of the
best (the ``math.fsum`` path), so deltas never drift into a submitted score.
"""

from __future__ import annotations

import math
import random
import weakref
from dataclasses import dataclass
from typing import Any

import numpy as np

from keyforge_node.annealing import AUTO_COOLING, IMPROVEMENT, Chain, Schedule
from keyforge_node.engine import kernels
from keyforge_node.engine.tables import Replicas, kernel_tables
from keyforge_shared.job_scorer import JobScorer

MIN_REPLICAS = 4
MAX_REPLICAS = 16
RUNG_RATIO = 1.6  # neighbouring temperatures: close enough that exchanges happen
# Each replica makes this many attempts between exchanges, its state and aggregates hot
# in the cache meanwhile (16 replicas' aggregates and the tables do not all fit): at 64,
# corne priced 3-8 % more swaps a second than at 16. 64 is still far under a sweep of
# its pairs (861 for 42 free keys), so states cross the ladder as often as they need.
EXCHANGE_EVERY = 64
AUTO_SAMPLES = 256
JOBS_KEPT = 2
CHAINS_KEPT = 8  # a worker runs one chain at a time; each kept costs R x 40 KB or so

# Per process: the kernel tables of the last jobs seen (the job is kept so its id stays unique).
_tables: dict[int, tuple[JobScorer, tuple[Any, ...] | None]] = {}


def tables_for(job: JobScorer) -> tuple[Any, ...] | None:
    entry = _tables.get(id(job))
    if entry is None or entry[0] is not job:
        entry = (job, kernel_tables(job.model, job.reference))
        _tables[id(job)] = entry
        while len(_tables) > JOBS_KEPT:
            del _tables[next(iter(_tables))]
    return entry[1]


def supports(job: JobScorer) -> bool:
    """False for alphabets too large for the dense tables: the Python engine takes those jobs."""
    return tables_for(job) is not None


def ladder(t_min: float, t_max: float) -> np.ndarray:
    count = math.ceil(math.log(t_max / t_min) / math.log(RUNG_RATIO)) + 1
    count = min(max(count, MIN_REPLICAS), MAX_REPLICAS)
    return np.geomspace(t_min, t_max, count)


def run_batch(job: JobScorer, chain: Chain, schedule: Schedule, steps: int) -> tuple[Chain, int]:
    """Advance ``chain`` by about ``steps`` swap attempts in all; returns it and deltas priced."""
    tables = tables_for(job)
    if tables is None:
        raise ValueError("the alphabet places too many characters for the compiled engine")
    model, rng = job.model, random.Random(hash((chain.seed, chain.epoch, chain.step)))  # noqa: S311
    free = np.array(job.free_slots, dtype=np.int64)
    ops = 0
    if chain.t_max <= 0:
        if schedule.t_max > 0:
            chain.t_max, chain.t_min = schedule.t_max, schedule.t_min
        else:
            chain.t_max, chain.t_min, ops = _auto_temperatures(tables, model, chain, free, rng)
    temps = ladder(chain.t_min, chain.t_max)
    layouts, reps, flow, scores = _replicas(model, tables, chain, len(temps))
    if not chain.best_layout:
        top = int(np.argmin(scores))
        chain.best_layout, chain.best_score = list(layouts[top]), float(scores[top])
        chain.epoch_start_best = chain.best_score
    best = np.array([chain.best_score], dtype=np.float64)
    best_perm = _in_terms_of(reps, chain.best_layout)
    if len(free) >= 2:
        rounds_left = max(steps // len(temps), 1)
        while rounds_left > 0:
            if chain.step >= schedule.epoch_steps:
                ops += _end_epoch(
                    tables,
                    model,
                    chain,
                    schedule,
                    reps=reps,
                    scores=scores,
                    free=free,
                    best_perm=best_perm,
                    best=best,
                    flow=flow,
                )
            rounds = min(rounds_left, schedule.epoch_steps - chain.step)
            priced, _ = kernels.temper(
                tables,
                reps.where,
                reps.chars,
                reps.perm,
                reps.load,
                *flow,
                scores,
                temps,
                free,
                rounds,
                EXCHANGE_EVERY,
                rng.getrandbits(31),
                best_perm,
                best,
            )
            ops += priced
            chain.step += rounds
            rounds_left -= rounds
            if chain.step >= schedule.epoch_steps:
                ops += _end_epoch(
                    tables,
                    model,
                    chain,
                    schedule,
                    reps=reps,
                    scores=scores,
                    free=free,
                    best_perm=best_perm,
                    best=best,
                    flow=flow,
                )
    _finish(model, chain, reps, best_perm)
    _keep(chain, tables, reps, flow)
    return chain, ops


def _replicas(
    model: Any, tables: tuple[Any, ...], chain: Chain, count: int
) -> tuple[list[list[str]], Replicas, tuple[np.ndarray, np.ndarray, np.ndarray], np.ndarray]:
    """The chain's ``count`` replicas as kernel states (layouts, states, flow aggregates,
    scores): as its last batch left them where they are kept, else built afresh."""
    kept = _kept_for(chain, tables, count)
    if kept is not None:
        reps, flow = kept.reps, kept.flow
        return chain.replicas, reps, flow, np.array(chain.replica_scores, dtype=np.float64)
    layouts = chain.replicas
    if len(layouts) != count:
        layouts = [
            chain.replicas[r % len(chain.replicas)] if chain.replicas else chain.layout
            for r in range(count)
        ]
        chain.replica_scores = []
    reps = Replicas.of(model, layouts)
    flow = kernels.flow_state(tables, reps.where)
    if len(chain.replica_scores) == count:
        scores = np.array(chain.replica_scores, dtype=np.float64)
    else:
        scores = np.array([model.score(layout) for layout in layouts], dtype=np.float64)
    return layouts, reps, flow, scores


def _in_terms_of(reps: Replicas, layout: list[str]) -> np.ndarray:
    spare: dict[str, list[int]] = {}
    for index in reversed(range(len(reps.keycodes))):
        spare.setdefault(reps.keycodes[index], []).append(index)
    return np.array([spare[k].pop() for k in layout], dtype=np.int64)


def _end_epoch(
    tables: tuple[Any, ...],
    model: Any,
    chain: Chain,
    schedule: Schedule,
    *,
    reps: Replicas,
    scores: np.ndarray,
    free: np.ndarray,
    best_perm: np.ndarray,
    best: np.ndarray,
    flow: tuple[np.ndarray, np.ndarray, np.ndarray],
) -> int:
    """Polish the best, hand it to the coldest replica, and count the epoch for patience.

    The flow aggregates are summed afresh here (a few ms an epoch): the coldest
    replica's state changed, and rounding in their incremental updates never
    outlives an epoch."""
    polished = Replicas.of(model, [reps.layout(best_perm)])
    polished.perm[0] = best_perm  # same keycodes list order as ``reps``
    gain, ops = kernels.polish(
        tables,
        polished.where[0],
        polished.chars[0],
        polished.perm[0],
        polished.load[0],
        free,
        schedule.polish_passes,
    )
    if gain < -IMPROVEMENT:
        best[0] += gain
        best_perm[:] = polished.perm[0]
    reps.where[0], reps.chars[0] = polished.where[0], polished.chars[0]
    reps.perm[0], reps.load[0] = polished.perm[0], polished.load[0]
    scores[0] = best[0]
    for kept, fresh in zip(flow, kernels.flow_state(tables, reps.where), strict=True):
        kept[:] = fresh
    gained = chain.epoch_start_best - best[0]
    chain.stale_epochs = 0 if gained > schedule.patience_threshold else chain.stale_epochs + 1
    chain.epoch += 1
    chain.step = 0
    chain.epoch_start_best = float(best[0])
    return int(ops)


def _auto_temperatures(
    tables: tuple[Any, ...], model: Any, chain: Chain, free: np.ndarray, rng: random.Random
) -> tuple[float, float, int]:
    """A ladder scaled to this job's own swap deltas: the median |delta| is the hottest rung."""
    if len(free) < 2:
        return 1.0, 1.0 / AUTO_COOLING, 0
    reps = Replicas.of(model, [chain.layout])
    pairs = np.array([rng.sample(list(free), 2) for _ in range(AUTO_SAMPLES)], dtype=np.int64)
    deltas = np.abs(
        kernels.price_swaps(
            tables, reps.where[0], reps.chars[0], reps.perm[0], reps.load[0], pairs, False
        )
    )
    moving = deltas[deltas > 0]
    typical = float(np.median(moving)) if len(moving) else 1.0
    return typical, typical / AUTO_COOLING, AUTO_SAMPLES


@dataclass
class _Kept:
    """A chain's replicas as its last batch left them, in the kernels' terms (state arrays
    and flow aggregates), so its next batch need not rebuild them from the layouts."""

    chain: weakref.ref[Chain]
    tables: tuple[Any, ...]
    layouts: list[list[str]]  # the list the batch left in ``chain.replicas``
    copies: list[list[str]]  # ... and its contents then
    scores: list[float]
    reps: Replicas
    flow: tuple[np.ndarray, np.ndarray, np.ndarray]


# Per process, by id(chain): the states of the last chains run here.
_kept: dict[int, _Kept] = {}


def _kept_for(chain: Chain, tables: tuple[Any, ...], replicas: int) -> _Kept | None:
    """The kept state of ``chain`` if it is still what the chain holds: the same chain,
    job and ladder, its replicas and their scores as the last batch left them."""
    kept = _kept.get(id(chain))
    if (
        kept is None
        or kept.chain() is not chain
        or kept.tables is not tables
        or kept.reps.where.shape[0] != replicas
        or chain.replicas is not kept.layouts
        or chain.replicas != kept.copies
        or chain.replica_scores != kept.scores
    ):
        return None
    return kept


def _keep(chain: Chain, tables: tuple[Any, ...], reps: Replicas, flow: Any) -> None:
    _kept.pop(id(chain), None)
    _kept[id(chain)] = _Kept(
        weakref.ref(chain),
        tables,
        chain.replicas,
        [list(layout) for layout in chain.replicas],
        list(chain.replica_scores),
        reps,
        flow,
    )
    while len(_kept) > CHAINS_KEPT:
        del _kept[next(iter(_kept))]


def _finish(model: Any, chain: Chain, reps: Replicas, best_perm: np.ndarray) -> Chain:
    """Exact scores for everything the chain keeps; the submitted best is one of them."""
    layouts = reps.layouts()
    exact = [model.score(layout) for layout in layouts]
    chain.replicas, chain.replica_scores = layouts, exact
    chain.layout, chain.score = layouts[0], exact[0]
    best_layout = reps.layout(best_perm)
    best_score = model.score(best_layout)
    top = min(range(len(exact)), key=exact.__getitem__)
    if exact[top] < best_score:
        best_layout, best_score = layouts[top], exact[top]
    if best_score < chain.best_score:
        chain.best_layout, chain.best_score = best_layout, best_score
    return chain
