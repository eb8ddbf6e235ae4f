"""Swap evaluations per second per core: the compiled engine against the Python engine.

    .venv/bin/python -m bench.engine [--rounds 5] [--seconds 1.0] [--weights ortho_split]

Uses the original KeyForge data beside the checkout (``../shared/keyforge-data``)
and runs each engine's real search loop (``run_batch``: annealing in Python,
parallel tempering compiled) on ortho_30 and corne from a shuffled layout, in
batches as long as a node runs them (``work.BATCH_MIN_S``: each batch ends
with exact full scores, whose cost a node spreads over that long).
Rounds alternate between the engines and each rate is the median over
rounds, so CPU noise from other work on the machine hits both alike. One
process, one core. Each rate is given per second of wall time and per
second of CPU time this process got (``time.process_time``): on a machine
busy with other work the first drops with the share of the core the bench
gets, the second much less. The load average is printed with them.
Targets: >= 1 000 000 evaluations/s compiled and a ratio >= 25x. Prints
numbers only; nothing here asserts.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import time
from collections import Counter
from dataclasses import dataclass

from bench.scorer import DATA, load_model
from keyforge_node import annealing, engine
from keyforge_node.annealing import Chain, Schedule
from keyforge_node.work import BATCH_MIN_S
from keyforge_shared.job_scorer import JobScorer

BOARDS = ("ortho_30", "corne")
TARGET_RATE = 1_000_000
TARGET_RATIO = 25.0


def job_of(board: str, weights: str) -> JobScorer:
    model, reference = load_model(board, weights)
    # Every key free, no asset bookkeeping: only the model and the alphabet matter here.
    free = tuple(range(len(reference)))
    return JobScorer(model, model.keycodes, tuple(reference), Counter(reference), {}, free, {}, 0)


@dataclass(frozen=True)
class Rate:
    wall: float  # evaluations per second of wall time
    cpu: float  # ... per second of CPU time this process got


def rate(
    run: object, job: JobScorer, chain: Chain, seconds: float, steps: int
) -> tuple[Chain, Rate, int]:
    """Evaluations per second of ``run`` (a ``run_batch``) over about ``seconds``, in
    batches as long as a node's: it sizes them to last at least ``BATCH_MIN_S``. Starts
    at ``steps`` a batch and returns the size it grew to, for the next round."""
    schedule = Schedule.from_params({})
    ops = 0
    started, cpu_started = time.perf_counter(), time.process_time()
    while (elapsed := time.perf_counter() - started) < seconds:
        before = time.perf_counter()
        chain, done = run(job, chain, schedule, steps)  # type: ignore[operator]
        ops += done
        if time.perf_counter() - before < BATCH_MIN_S:
            steps *= 2
    return chain, Rate(ops / elapsed, ops / (time.process_time() - cpu_started)), steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=1.0)
    parser.add_argument("--weights", default="ortho_split")
    args = parser.parse_args()
    if not DATA.is_dir():
        raise SystemExit(f"original KeyForge data not found at {DATA.resolve()}")
    if not engine.compiled_available():
        raise SystemExit(f"no compiled engine here: {engine.describe()}")
    print(engine.describe())
    rows = []
    for board in BOARDS:
        job = job_of(board, args.weights)
        layout = list(job.reference)
        random.Random(7).shuffle(layout)
        started = time.perf_counter()
        compiled_chain, _ = engine.run_batch(
            job, Chain(list(layout), seed=1), Schedule.from_params({}), 100
        )
        print(
            f"{board}: compiled engine ready in {time.perf_counter() - started:.1f} s"
            " (from its cache, or compiled)"
        )
        python_chain = Chain(list(layout), seed=1)
        python: list[Rate] = []
        compiled: list[Rate] = []
        python_steps = compiled_steps = 2_000
        for _ in range(args.rounds):
            python_chain, r, python_steps = rate(
                annealing.run_batch, job, python_chain, args.seconds, python_steps
            )
            python.append(r)
            compiled_chain, r, compiled_steps = rate(
                engine.run_batch, job, compiled_chain, args.seconds, compiled_steps
            )
            compiled.append(r)
        for clock in ("wall", "cpu"):
            slow = statistics.median(getattr(r, clock) for r in python)
            fast = statistics.median(getattr(r, clock) for r in compiled)
            rows.append((board, clock, slow, fast))
    print(
        f"\nweights {args.weights}, default corpus,"
        f" median of {args.rounds} rounds of {args.seconds} s each;"
        f" load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"
    )
    print(f"{'keyboard':10} {'per s of':8} {'python':>10} {'compiled':>10} {'ratio':>7}  targets")
    for board, clock, slow, fast in rows:
        ratio = fast / slow
        verdict = (
            f"rate {'met' if fast >= TARGET_RATE else 'MISSED'},"
            f" ratio {'met' if ratio >= TARGET_RATIO else 'MISSED'}"
        )
        print(f"{board:10} {clock:8} {slow:>10.0f} {fast:>10.0f} {ratio:>6.1f}x  {verdict}")


if __name__ == "__main__":
    main()
