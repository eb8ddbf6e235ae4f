"""The same inputs give the same float: twice in one process, and in a fresh process."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from keyforge_shared.scoring import Corpus, build_model

from .original_data import corpus, cost_matrix, keyboard, keycodes, layout, model, weights

REPO = Path(__file__).resolve().parents[3]

FRESH_PROCESS = """
import sys
from tests.shared.scoring.original_data import layout, model
for board in ("ortho_30", "corne"):
    scorer = model(board)
    for name in ("Qwerty", "Colemak-DH", "Dvorak"):
        print(repr(scorer.score(layout(board, name))))
        print(repr(sorted(scorer.metrics(layout(board, name)).items())))
"""


def expected_lines() -> list[str]:
    lines = []
    for board in ("ortho_30", "corne"):
        for name in ("Qwerty", "Colemak-DH", "Dvorak"):
            lines.append(repr(model(board).score(layout(board, name))))
            lines.append(repr(sorted(model(board).metrics(layout(board, name)).items())))
    return lines


def test_scoring_twice_gives_the_same_float() -> None:
    qwerty = layout("corne", "Qwerty")
    rebuilt = build_model(
        keyboard("corne"), weights("ortho_split"), corpus(), keycodes(), cost_matrix()
    )
    assert model("corne").score(qwerty) == model("corne").score(qwerty) == rebuilt.score(qwerty)
    assert model("corne").metrics(qwerty) == rebuilt.metrics(qwerty)


def test_a_fresh_process_gives_the_same_floats() -> None:
    expected = expected_lines()  # skips first when the original data is absent
    done = subprocess.run(
        [sys.executable, "-c", FRESH_PROCESS],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    assert done.stdout.splitlines() == expected


def test_corpus_row_order_does_not_change_the_score() -> None:
    original = corpus()
    shuffled = Corpus(
        dict(reversed(list(original.unigrams.items()))),
        dict(reversed(list(original.bigrams.items()))),
        dict(reversed(list(original.trigrams.items()))),
    )
    rebuilt = build_model(keyboard("ortho_30"), weights("testing"), shuffled, keycodes())
    same = build_model(keyboard("ortho_30"), weights("testing"), original, keycodes())
    qwerty = layout("ortho_30", "Qwerty")
    assert rebuilt.score(qwerty) == same.score(qwerty)
