from __future__ import annotations

import math
from typing import Any

import pytest

from keyforge_shared.formats import FormatError
from keyforge_shared.scoring import Weights, parse_weights

from .original_data import weights, weights_files


@pytest.mark.parametrize("name", weights_files())
def test_every_original_weights_file_loads_with_its_values(name: str) -> None:
    raw = weights(name)
    loaded = parse_weights(raw)
    for field, value in raw.items():
        assert getattr(loaded, field) == value
    assert loaded.finger_scales == (0.0, 1.0, 1.1, 1.3, 1.6)
    assert loaded.comfortable_scissor_pairs == {(2, 1), (2, 3), (3, 4)}


def test_missing_fields_take_the_values_the_original_files_agree_on() -> None:
    defaults = Weights()
    for name in weights_files():
        raw = weights(name)
        for field, value in raw.items():
            if field != "loader_trigram_limit":  # the one field the files disagree on
                assert getattr(defaults, field) == value, field
    assert defaults.loader_trigram_limit == 3000


def test_unknown_fields_are_ignored() -> None:
    loaded = parse_weights({"penalty_skip": 7, "bonus_from_the_future": 1e9, "notes": "x"})
    assert loaded.penalty_skip == 7.0
    assert not hasattr(loaded, "bonus_from_the_future")


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf, "nan", "inf"])
def test_non_finite_numbers_are_refused(bad: Any) -> None:
    with pytest.raises(FormatError, match="penalty_scissor"):
        parse_weights({"penalty_scissor": bad})


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("finger_penalty_scale", "1,2,3,4"),
        ("finger_penalty_scale", "0,1,nan,1,1"),
        ("finger_penalty_scale", "0,1,x,1,1"),
        ("comfortable_scissors", "21,5x"),
        ("comfortable_scissors", "213"),
        ("corpus_scale", 0),
        ("max_hand_imbalance", 0.4),
        ("loader_trigram_limit", -1),
        ("threshold_scissor_row_diff", 0),
        ("penalty_lateral", "much"),
    ],
)
def test_malformed_fields_are_refused_with_their_name(field: str, value: Any) -> None:
    with pytest.raises(FormatError, match=field):
        parse_weights({field: value})


def test_list_forms_of_the_string_fields_are_accepted() -> None:
    loaded = parse_weights({"finger_penalty_scale": [0, 1, 1, 1.5, 2], "comfortable_scissors": []})
    assert loaded.finger_scales == (0.0, 1.0, 1.0, 1.5, 2.0)
    assert loaded.comfortable_scissor_pairs == frozenset()


def test_weights_are_immutable() -> None:
    with pytest.raises(ValueError, match="frozen"):
        Weights().penalty_skip = 1.0  # type: ignore[misc]
