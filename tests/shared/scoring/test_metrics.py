"""Analyzer metrics on the original Corne layouts (any alphabet), and their ranges."""

from __future__ import annotations

import pytest

from keyforge_shared.formats import FormatError

from .original_data import keyboard, layout, model

PERCENTAGES = (
    "sfb",
    "skip_bigrams",
    "lateral_stretch",
    "pinky_scissors",
    "tri_redirect",
    "roll_in",
    "roll_out",
    "coverage",
    "left_hand",
)


def corne_metrics(name: str) -> dict[str, float]:
    return model("corne").metrics(layout("corne", name))


def test_corne_metrics_behave_as_analyzers_report_them() -> None:
    qwerty, colemak_dh, dvorak = (corne_metrics(n) for n in ("Qwerty", "Colemak-DH", "Dvorak"))
    for name, values in (("Qwerty", qwerty), ("Colemak-DH", colemak_dh), ("Dvorak", dvorak)):
        print(f"corne {name}: " + ", ".join(f"{k} {v:.3f}" for k, v in values.items()))
    assert qwerty["sfb"] > colemak_dh["sfb"]
    assert dvorak["roll_in"] + dvorak["roll_out"] != qwerty["roll_in"] + qwerty["roll_out"]
    # Well-known analyzer figures on English: QWERTY ~6-7 % SFB, Colemak-DH ~1 %.
    assert 5.0 < qwerty["sfb"] < 8.0
    assert colemak_dh["sfb"] < 1.5
    assert dvorak["tri_redirect"] < qwerty["tri_redirect"]


@pytest.mark.parametrize("board", ["ortho_30", "corne", "szr35"])
def test_every_percentage_lies_between_0_and_100(board: str) -> None:
    keys = len(keyboard(board).geometry.keys)
    for name, text in keyboard(board).layouts.items():
        if len(text.split()) != keys:
            continue
        values = model(board).metrics(layout(board, name))
        assert set(PERCENTAGES) | {"effort", "distance"} <= set(values)
        for metric in PERCENTAGES:
            assert 0.0 <= values[metric] <= 100.0, (board, name, metric, values[metric])
        assert values["effort"] > 0
        assert values["distance"] >= 0


def test_a_layout_that_types_nothing_has_zero_metrics() -> None:
    blank = ["KC_TRNS"] * len(keyboard("corne").geometry.keys)
    values = model("corne").metrics(blank)
    assert all(value == 0.0 for value in values.values())
    assert model("corne").score(blank) == 0.0


def test_whitespace_is_left_out_so_a_space_key_changes_no_percentage() -> None:
    qwerty = layout("corne", "Qwerty")
    without_space = ["KC_NO" if kc == "KC_SPC" else kc for kc in qwerty]
    with_space, without = corne_metrics("Qwerty"), model("corne").metrics(without_space)
    for metric in ("sfb", "skip_bigrams", "roll_in", "tri_redirect"):
        assert with_space[metric] == without[metric]
    assert with_space["coverage"] > without["coverage"]


def test_a_layout_of_the_wrong_length_is_refused() -> None:
    with pytest.raises(FormatError, match="41 keycodes for 42 keys"):
        model("corne").score(layout("corne", "Qwerty")[:-1])
