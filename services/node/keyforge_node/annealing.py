"""Simulated annealing over swaps of free slots, in batches a worker process runs.

A ``Chain`` is one independent search. It anneals in epochs: the temperature
falls geometrically from ``t_max`` to ``t_min`` over ``epoch_steps`` swap
attempts, each priced with the scorer's swap delta (the full score is never
recomputed on the hot path); at the end of an epoch a greedy polish takes
every improving swap left, and the next epoch reheats from the chain's best.
A chain whose epochs stop improving it (``patience``) or that ran its
``epochs_per_seed`` is *exhausted*: the node reseeds it from the job's
population, which by then holds what every node found.

The job's eight original parameters map onto this: ``temp_max`` and
``temp_min`` are the temperatures (score units; a job without a usable pair
gets one scaled to its own swap deltas), ``search_steps`` the epoch length
(at least ``MIN_EPOCH_STEPS``: a shorter anneal cannot cool), ``search_epochs``
and ``search_patience`` / ``search_patience_threshold`` end a seed,
``opt_limit_fast`` caps the polish passes. ``opt_limit_slow`` has no
counterpart here.

Scores drift as deltas add up: a batch ends with exact full scores, so the
score a node submits is always the one the hive recomputes.
"""

from __future__ import annotations

import math
import random
import statistics
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from keyforge_shared.job_scorer import JobScorer
from keyforge_shared.scoring import LayoutState

MIN_EPOCH_STEPS = 20_000
MAX_EPOCH_STEPS = 50_000_000
MAX_POLISH_PASSES = 20
AUTO_COOLING = 1000.0  # t_max / t_min when the job's pair is unusable
UNLIMITED = 1 << 30
IMPROVEMENT = 1e-9


@dataclass(frozen=True)
class Schedule:
    t_max: float  # 0: scaled to the job's swap deltas by the first batch
    t_min: float
    epoch_steps: int
    polish_passes: int
    patience: int
    patience_threshold: float
    epochs_per_seed: int

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> Schedule:
        def number(name: str) -> float:
            value = params.get(name, 0)
            ok = isinstance(value, int | float) and math.isfinite(value) and value > 0
            return float(value) if ok else 0.0

        t_max, t_min = number("temp_max"), number("temp_min")
        if not 0 < t_min < t_max:
            t_max = t_min = 0.0
        steps = int(number("search_steps"))
        return cls(
            t_max=t_max,
            t_min=t_min,
            epoch_steps=min(max(steps, MIN_EPOCH_STEPS), MAX_EPOCH_STEPS),
            polish_passes=min(int(number("opt_limit_fast")), MAX_POLISH_PASSES),
            patience=int(number("search_patience")) or UNLIMITED,
            patience_threshold=number("search_patience_threshold"),
            epochs_per_seed=int(number("search_epochs")) or UNLIMITED,
        )


@dataclass
class Chain:
    layout: list[str]
    seed: int
    score: float = math.nan
    best_layout: list[str] = field(default_factory=list)
    best_score: float = math.inf
    step: int = 0
    epoch: int = 0
    stale_epochs: int = 0
    epoch_start_best: float = math.inf
    t_max: float = 0.0
    t_min: float = 0.0
    # The compiled engine's parallel-tempering replicas (coldest first) and their exact
    # scores; the Python engine runs the one ``layout`` and leaves these empty.
    replicas: list[list[str]] = field(default_factory=list)
    replica_scores: list[float] = field(default_factory=list)

    def exhausted(self, schedule: Schedule) -> bool:
        return self.stale_epochs >= schedule.patience or self.epoch >= schedule.epochs_per_seed


class _Search:
    """One batch of one chain: the state lives here, the chain gets it back at the end."""

    def __init__(self, job: JobScorer, chain: Chain, schedule: Schedule) -> None:
        self.job, self.model, self.chain, self.schedule = job, job.model, chain, schedule
        self.rng = random.Random(hash((chain.seed, chain.epoch, chain.step)))  # noqa: S311
        self.state: LayoutState = self.model.state(chain.layout)
        self.score = (
            chain.score if math.isfinite(chain.score) else self.model.score_state(self.state)
        )
        if not chain.best_layout:
            chain.best_layout, chain.best_score = list(chain.layout), self.score
            chain.epoch_start_best = self.score
        self.ops = 0

    def auto_temperatures(self) -> None:
        free = self.job.free_slots
        deltas = [
            abs(self.model.swap_delta(self.state, *self.rng.sample(free, 2))) for _ in range(256)
        ]
        self.ops += len(deltas)
        typical = statistics.median(d for d in deltas if d > 0) if any(deltas) else 1.0
        self.chain.t_max, self.chain.t_min = typical, typical / AUTO_COOLING

    def take(self, i: int, j: int, delta: float) -> None:
        self.model.apply_swap(self.state, i, j)
        self.score += delta
        if self.score < self.chain.best_score - IMPROVEMENT:
            self.chain.best_score = self.score
            self.chain.best_layout = list(self.state.keycodes)

    def anneal(self, steps: int) -> None:
        chain, free = self.chain, self.job.free_slots
        n, rng, swap_delta = len(free), self.rng, self.model.swap_delta
        for _ in range(steps):
            if chain.step >= self.schedule.epoch_steps:
                self.end_epoch()
            fraction = chain.step / self.schedule.epoch_steps
            temperature = chain.t_max * (chain.t_min / chain.t_max) ** fraction
            chain.step += 1
            i, j = free[rng.randrange(n)], free[rng.randrange(n)]
            if i == j:
                continue
            delta = swap_delta(self.state, i, j)
            self.ops += 1
            if delta <= 0 or rng.random() < math.exp(-delta / temperature):
                self.take(i, j, delta)

    def polish(self) -> None:
        """First-improvement descent over every pair of free slots."""
        free = self.job.free_slots
        for _ in range(self.schedule.polish_passes):
            improved = False
            for a, i in enumerate(free):
                for j in free[a + 1 :]:
                    delta = self.model.swap_delta(self.state, i, j)
                    self.ops += 1
                    if delta < -IMPROVEMENT:
                        self.take(i, j, delta)
                        improved = True
            if not improved:
                return

    def end_epoch(self) -> None:
        chain = self.chain
        self.polish()
        gained = chain.epoch_start_best - chain.best_score
        chain.stale_epochs = (
            0 if gained > self.schedule.patience_threshold else chain.stale_epochs + 1
        )
        chain.epoch += 1
        chain.step = 0
        chain.epoch_start_best = chain.best_score
        self.state = self.model.state(chain.best_layout)
        self.score = chain.best_score

    def finish(self) -> Chain:
        chain = self.chain
        chain.layout = self.state.layout()
        chain.score = self.model.score_state(self.state)
        chain.best_score = self.model.score(chain.best_layout)
        return chain


def run_batch(job: JobScorer, chain: Chain, schedule: Schedule, steps: int) -> tuple[Chain, int]:
    """Advance ``chain`` by ``steps`` swap attempts; returns it and the swap deltas priced."""
    search = _Search(job, chain, schedule)
    if len(job.free_slots) < 2:
        return search.finish(), search.ops
    if chain.t_max <= 0:
        if schedule.t_max > 0:
            chain.t_max, chain.t_min = schedule.t_max, schedule.t_min
        else:
            search.auto_temperatures()
    search.anneal(steps)
    return search.finish(), search.ops
