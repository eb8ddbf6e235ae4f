"""The cost model's terms, one by one, on a hand-built grid with default weights."""

from __future__ import annotations

import math

import numpy as np
import pytest

from keyforge_shared.formats import CostEntry
from keyforge_shared.scoring import Weights
from keyforge_shared.scoring.costs import flow_costs, pair_costs, skip_costs
from keyforge_shared.scoring.slots import compile_slots
from keyforge_shared.scoring.timing import key_timings

from .grid import grid_geometry, slot

W = Weights()
MS = W.default_cost_ms


@pytest.fixture(scope="module")
def pairs() -> np.ndarray:
    geometry = grid_geometry()
    return pair_costs(compile_slots(geometry), W, key_timings(geometry, None, MS))


def cost(pairs: np.ndarray, a: str, b: str) -> float:
    return float(pairs[slot(a), slot(b)]) - MS


@pytest.mark.parametrize(
    ("bigram", "expected"),
    [
        ("fr", W.penalty_sfb_base + W.penalty_sfb_outward_adder + 1.0),  # away from home
        ("rf", W.penalty_sfb_base + 1.0),  # back to the home row
        ("fg", W.penalty_sfb_lateral + W.weight_lateral_travel),
        ("rv", W.penalty_sfb_long + 2.0),
        ("rg", W.penalty_sfb_diagonal + math.sqrt(W.weight_lateral_travel**2 + 1.0)),
        ("aq", (W.penalty_sfb_base + W.penalty_sfb_outward_adder) * W.weight_weak_finger_sfb + 1),
        ("qz", W.penalty_sfb_long * W.weight_weak_finger_sfb + 2.0),
        ("l.", (W.penalty_sfb_base + W.penalty_sfb_outward_adder) * W.weight_weak_finger_sfb + 1),
    ],
)
def test_same_finger_bigrams_by_motion(pairs: np.ndarray, bigram: str, expected: float) -> None:
    assert cost(pairs, *bigram) == pytest.approx(expected)


def test_same_key_repeats(pairs: np.ndarray) -> None:
    assert cost(pairs, "f", "f") == 0.0
    assert cost(pairs, "g", "g") == W.penalty_sfr_lat
    assert cost(pairs, "r", "r") == W.penalty_sfr_bad_row
    assert cost(pairs, "a", "a") == W.penalty_sfr_weak_finger
    assert cost(pairs, "q", "q") == W.penalty_sfr_weak_finger + W.penalty_sfr_bad_row


def test_scissors_lateral_stretches_and_rolls(pairs: np.ndarray) -> None:
    assert cost(pairs, "w", "c") == W.penalty_scissor  # ring over middle, two rows apart
    assert cost(pairs, "q", "x") == W.penalty_scissor * W.penalty_ring_pinky
    assert cost(pairs, "e", "x") == -W.bonus_bigram_roll_out  # "23": a comfortable pair
    assert cost(pairs, "e", "t") == W.penalty_lateral  # middle to the index stretch column
    assert cost(pairs, "s", "d") == -W.bonus_bigram_roll_in
    assert cost(pairs, "d", "s") == -W.bonus_bigram_roll_out
    assert cost(pairs, "f", "j") == 0.0  # other hand: time only


def test_skipgrams_and_one_hand_flow() -> None:
    slots = compile_slots(grid_geometry())
    skips = skip_costs(slots, W)
    assert skips[slot("f"), slot("r")] == W.penalty_skip
    assert skips[slot("a"), slot("q")] == W.penalty_skip * W.weight_weak_finger_sfb
    assert skips[slot("f"), slot("f")] == 0.0
    assert skips[slot("f"), slot("j")] == 0.0
    flow = flow_costs(W)
    ring, middle, index = 3, 2, 1
    assert flow[ring, middle, index] == W.penalty_hand_run - W.bonus_inward_roll
    assert flow[index, middle, ring] == W.penalty_hand_run  # outward one-hand roll
    assert flow[index, ring, middle] == W.penalty_hand_run + W.penalty_redirect
    assert flow[index, ring, 5 + middle] == 0.0  # the last key is on the other hand
    assert flow[index, 0, middle] == 0.0  # a thumb breaks the run


def test_fingers_rest_on_the_home_row_off_the_stretch_column() -> None:
    slots = compile_slots(grid_geometry(thumb=True))
    assert slots.home[slot("q")] == slot("a")
    assert slots.home[slot("t")] == slot("f")
    assert slots.home[slot("n")] == slot("j")
    assert slots.home[30] == 30  # the lone thumb key


def test_cost_matrix_codes_map_onto_key_ids() -> None:
    geometry = grid_geometry()
    entries = [
        CostEntry("KeyQ", "KeyW", 99.0, 50),
        CostEntry("Semicolon", "Comma", 77.0, 50),
        CostEntry("Period", "Backquote", 11.0, 50),  # no such key here
    ]
    timings = key_timings(geometry, entries, 120.0)
    assert timings[slot("q"), slot("w")] == 99.0
    assert timings[slot(";"), slot(",")] == 77.0
    assert timings[slot("w"), slot("q")] == 120.0
    explicit = key_timings(
        geometry, [CostEntry("Digit1", "KeyX", 5.0, 1)], 120.0, {"keyq": "Digit1"}
    )
    assert explicit[slot("q"), slot("x")] == 5.0
