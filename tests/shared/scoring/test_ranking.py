"""The acceptance ranking: the original ortho_30 layouts under the original default corpus."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

import pytest

from .original_data import keyboard, keycodes, layout, model, weights_files

BOARD = "ortho_30"


def same_alphabet_ranking(weights_name: str) -> list[tuple[str, float]]:
    """Layouts sharing QWERTY's multiset of keycodes, best (lowest score) first."""
    scorer = model(BOARD, weights_name)
    alphabet = Counter(layout(BOARD, "Qwerty"))
    scores = [
        (name, scorer.score(layout(BOARD, name)))
        for name in keyboard(BOARD).layouts
        if Counter(layout(BOARD, name)) == alphabet
    ]
    return sorted(scores, key=lambda item: item[1])


@pytest.mark.parametrize("weights_name", weights_files())
def test_qwerty_scores_worse_than_every_layout_with_its_alphabet(
    weights_name: str, record_property: Callable[[str, object], None]
) -> None:
    ranking = same_alphabet_ranking(weights_name)
    shown = ", ".join(f"{name} {score:.1f}" for name, score in ranking)
    print(f"ortho_30 / {weights_name}: {shown}")
    record_property("ranking", shown)
    names = [name for name, _ in ranking]
    # Colemak, Colemak-DH, Workman and Hands Down Ref share QWERTY's keycodes.
    assert {"Colemak", "Colemak-DH", "Workman", "Hands Down Ref"} <= set(names)
    assert names[-1] == "Qwerty"


def test_the_ranking_is_the_same_under_every_original_weights_file() -> None:
    orders = {name: [n for n, _ in same_alphabet_ranking(name)] for name in weights_files()}
    assert len({tuple(order) for order in orders.values()}) == 1, orders


def test_every_original_layout_parses_and_scores_on_every_keyboard() -> None:
    for board in ("ortho_30", "corne", "szr35"):
        scorer = model(board)
        keys = len(keyboard(board).geometry.keys)
        for name, text in keyboard(board).layouts.items():
            if len(text.split()) != keys:
                continue  # corne's Maltron lists 41 keycodes for 42 keys: the job API refuses it
            score = scorer.score(layout(board, name))
            assert 0 < score < 1e8, (board, name, score)
    assert keycodes().char_of("KC_Q") == "q"
