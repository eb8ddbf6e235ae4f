"""A swap delta equals full rescoring, on every geometry and on both table paths."""

from __future__ import annotations

from functools import cache
from unittest import mock

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from keyforge_shared.formats import parse_pinned_keys
from keyforge_shared.scoring import ScoringModel, build_model, tables

from .original_data import corpus, cost_matrix, keyboard, keycodes, layout, model, weights

# ansi_104's numpad and lock keys are not in keycodes.json: they type nothing here.
ANSI_UNKNOWN = "KC_NO"


@cache
def factored_model(board: str) -> ScoringModel:
    """The same model without the dense table: the path keyboards over 112 keys take."""
    with mock.patch.object(tables, "DENSE_TABLE_MAX", 0):
        built = build_model(
            keyboard(board), weights("testing"), corpus(), keycodes(), cost_matrix()
        )
    assert built.costs.dense is None
    return built


@cache
def reference(board: str) -> list[str]:
    if board == "ansi_104":
        names = keyboard(board).layouts["Qwerty"].split()
        return [keycodes().canonical(name) or ANSI_UNKNOWN for name in names]
    return layout(board, "Qwerty")


SCORERS = {
    "ortho_30": lambda: model("ortho_30"),
    "corne": lambda: model("corne"),
    # Two space bars and a KC_NO: characters typed from several keys.
    "szr35": lambda: model("szr35", "testing"),
    "ansi_104": lambda: model("ansi_104", "testing"),
    "corne factored": lambda: factored_model("corne"),
    "szr35 factored": lambda: factored_model("szr35"),
}


def assert_close(delta: float, exact: float, scale: float) -> None:
    assert abs(delta - exact) <= 1e-9 * max(1.0, abs(scale)), (delta, exact)


@settings(max_examples=30, deadline=None)
@given(st.sampled_from(sorted(SCORERS)), st.data())
def test_swap_delta_equals_full_rescoring(scorer_name: str, data: st.DataObject) -> None:
    scorer = SCORERS[scorer_name]()
    board = scorer_name.split(maxsplit=1)[0]
    start = data.draw(st.permutations(reference(board)), label="layout")
    slot = st.integers(0, len(start) - 1)
    swaps = data.draw(st.lists(st.tuples(slot, slot), min_size=1, max_size=12), label="swaps")
    state = scorer.state(start)
    for i, j in swaps:
        before = scorer.score_state(state)
        untouched = (state.slots.copy(), list(state.chars), state.left, state.right)
        delta = scorer.swap_delta(state, i, j)
        assert (state.slots == untouched[0]).all()
        assert (state.chars, state.left, state.right) == untouched[1:]
        scorer.apply_swap(state, i, j)
        after = scorer.score_state(state)
        assert after == scorer.score(state.layout())  # the state stays true to its layout
        assert_close(delta, after - before, before)


def test_swapping_a_slot_with_itself_or_two_blank_keys_costs_nothing() -> None:
    scorer, qwerty = model("corne"), layout("corne", "Qwerty")
    state = scorer.state(qwerty)
    assert scorer.swap_delta(state, 13, 13) == 0.0
    assert qwerty[40] == qwerty[41] == "KC_TRNS"
    assert scorer.swap_delta(state, 40, 41) == 0.0


def test_the_dense_and_factored_tables_give_identical_scores() -> None:
    for board in ("corne", "szr35"):
        dense, factored = model(board, "testing"), factored_model(board)
        for name in keyboard(board).layouts:
            if len(keyboard(board).layouts[name].split()) == len(keyboard(board).geometry.keys):
                assert dense.score(layout(board, name)) == factored.score(layout(board, name))


def test_pinned_keys_are_the_optimizers_business_not_the_scorers() -> None:
    scorer, qwerty = model("ortho_30"), layout("ortho_30", "Qwerty")
    pinned = parse_pinned_keys("10:KC_A,12:d", keycodes(), len(qwerty))
    state = scorer.state(qwerty)
    # A swap through a pinned slot is priced like any other; refusing it is the optimizer's job.
    delta = scorer.swap_delta(state, 10, 0)
    scorer.apply_swap(state, 10, 0)
    assert state.layout()[10] != pinned[10]
    assert_close(delta, scorer.score(state.layout()) - scorer.score(qwerty), scorer.score(qwerty))


@pytest.mark.parametrize("board", ["ortho_30", "corne"])
def test_a_copied_state_is_independent(board: str) -> None:
    scorer = model(board)
    state = scorer.state(layout(board, "Qwerty"))
    twin = state.copy()
    scorer.apply_swap(twin, 0, 13)
    assert state.layout() == layout(board, "Qwerty")
    assert scorer.score_state(state) == scorer.score(layout(board, "Qwerty"))
