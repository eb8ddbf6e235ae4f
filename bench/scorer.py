"""Full scores per second against swap deltas per second, side by side in one run.

    .venv/bin/python -m bench.scorer [--rounds 7] [--weights ortho_split]

Uses the original KeyForge data beside the checkout (``../shared/keyforge-data``).
Full scores and swap deltas are timed in alternating rounds on the same random
states, and each rate is the median over rounds, so CPU noise from other work on
the machine hits both sides alike. Prints numbers only; nothing here asserts.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time
from pathlib import Path

from keyforge_shared import formats
from keyforge_shared.scoring import ScoringModel, build_model, load_corpus

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "keyforge-data"
BOARDS = ("ortho_30", "corne")


def load_model(board: str, weights_name: str) -> tuple[ScoringModel, list[str]]:
    keycodes = formats.parse_keycodes((DATA / "keycodes.json").read_bytes())
    folder = DATA / "corpora" / "default"
    corpus = load_corpus(*((folder / f"{n}grams.csv").read_bytes() for n in (1, 2, 3)))
    definition = formats.parse_definition(
        json.loads((DATA / "keyboards" / f"{board}.json").read_text())
    )
    weights = json.loads((DATA / "weights" / f"{weights_name}.json").read_text())
    matrix = formats.parse_cost_matrix((DATA / "cost_matrix.csv").read_bytes())
    started = time.perf_counter()
    model = build_model(definition, weights, corpus, keycodes, matrix)
    print(f"{board}: model built in {(time.perf_counter() - started) * 1e3:.0f} ms")
    _, reference = definition.reference_layout()
    return model, formats.parse_layout(reference, keycodes, len(definition.geometry.keys))


def rates(model: ScoringModel, layout: list[str], rounds: int) -> tuple[float, float]:
    rng = random.Random(5)
    shuffled = list(layout)
    rng.shuffle(shuffled)
    state = model.state(shuffled)
    count = model.key_count
    pairs = [(rng.randrange(count), rng.randrange(count)) for _ in range(4000)]
    full, delta = [], []
    for _ in range(rounds):
        started = time.perf_counter()
        for _ in range(200):
            model.score_state(state)
        full.append(200 / (time.perf_counter() - started))
        started = time.perf_counter()
        for i, j in pairs:
            model.swap_delta(state, i, j)
        delta.append(len(pairs) / (time.perf_counter() - started))
    return statistics.median(full), statistics.median(delta)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--weights", default="ortho_split")
    args = parser.parse_args()
    if not DATA.is_dir():
        raise SystemExit(f"original KeyForge data not found at {DATA.resolve()}")
    rows = []
    for board in BOARDS:
        model, layout = load_model(board, args.weights)
        rows.append((board, len(model.scored.counts), *rates(model, layout, args.rounds)))
    print(f"\nweights {args.weights}, default corpus, median of {args.rounds} rounds")
    print(f"{'keyboard':10} {'rows':>6} {'full/s':>9} {'delta/s':>9} {'ratio':>6} {'delta us':>9}")
    for board, scored, full, delta in rows:
        print(
            f"{board:10} {scored:>6} {full:>9.0f} {delta:>9.0f} "
            f"{delta / full:>6.1f} {1e6 / delta:>9.1f}"
        )


if __name__ == "__main__":
    main()
