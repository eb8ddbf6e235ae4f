"""Model behaviour on a hand-built grid and a tiny corpus: no data files needed."""

from __future__ import annotations

import pytest

from keyforge_shared.formats import Keycode, KeycodeTable
from keyforge_shared.scoring import Corpus, Weights, build_model, load_corpus
from keyforge_shared.scoring.slots import compile_slots
from keyforge_shared.scoring.tables import compile_chars, typed_chars

from .grid import ROWS, grid_geometry

CODES = {";": "KC_SCLN", ",": "KC_COMM", ".": "KC_DOT", "/": "KC_SLSH", " ": "KC_SPC"}
QWERTY = [CODES.get(ch, f"KC_{ch.upper()}") for ch in "".join(ROWS)]


def table() -> KeycodeTable:
    entries = [
        Keycode(code=ord(ch.upper()), id=f"KC_{ch.upper()}") for ch in "abcdefghijklmnopqrstuvwxyz"
    ]
    entries += [Keycode(code=ord(ch), id=name) for ch, name in CODES.items()]
    entries += [Keycode(code=130, id="KC_LSFT"), Keycode(code=1, id="KC_TRNS")]
    return KeycodeTable.from_entries(entries)


def tiny_corpus() -> Corpus:
    return load_corpus(
        'char,freq\ne,50\nt,40\na,30\nT,10\n",",5\n ,7\n\u00e9,9\n',
        "char1,char2,freq\nt,h,20\nh,e,18\ne,d,3\n\u00e9,e,4\n",
        "char1,char2,char3,freq\nt,h,e,15\na,n,d,6\nT,h,e,2\n",
    )


def test_upper_case_folds_and_untyped_characters_are_left_out() -> None:
    geometry = grid_geometry()
    charset = compile_chars(tiny_corpus(), table(), compile_slots(geometry))
    assert "\u00e9" not in charset.index  # no keycode types it
    assert charset.chars[:2] == ("e", "t")  # "t" 40 + "T" 10 = 50 ties with "e": by character
    assert int(charset.unigram_counts[charset.index["t"]]) == 50
    assert "\u00e9" not in typed_chars(table())


def test_coverage_counts_every_corpus_character() -> None:
    scorer = build_model(grid_geometry(), Weights(), tiny_corpus(), table())
    values = scorer.metrics(QWERTY)
    # e 50, t 40 + T 10, a 30, comma 5 are typed; the space (7) and the e-acute (9) are not.
    assert values["coverage"] == pytest.approx(100 * 135 / 151)


def test_non_typing_keycodes_type_nothing() -> None:
    scorer = build_model(grid_geometry(), Weights(), tiny_corpus(), table())
    without_e = ["KC_LSFT" if kc == "KC_E" else kc for kc in QWERTY]
    assert scorer.score(without_e) < scorer.score(QWERTY)
    assert scorer.metrics(without_e)["coverage"] < scorer.metrics(QWERTY)["coverage"]


def test_unknown_keycodes_type_nothing_and_validation_is_the_callers() -> None:
    scorer = build_model(grid_geometry(), Weights(), tiny_corpus(), table())
    unknown = ["KC_WHATEVER" if kc == "KC_E" else kc for kc in QWERTY]
    assert scorer.score(unknown) == scorer.score(
        ["KC_LSFT" if kc == "KC_E" else kc for kc in QWERTY]
    )


def test_hand_imbalance_is_a_hinge_on_the_busier_hand() -> None:
    scorer = build_model(grid_geometry(), Weights(), tiny_corpus(), table())
    w = scorer.weights
    assert scorer.balance_cost(55, 45) == 0.0
    assert scorer.balance_cost(50, 50) == 0.0
    assert scorer.balance_cost(80, 20) == pytest.approx(w.penalty_imbalance * 25 / w.corpus_scale)
    assert scorer.balance_cost(20, 80) == scorer.balance_cost(80, 20)


def test_weights_may_be_the_raw_object_of_a_job_spec() -> None:
    raw = {"penalty_sfb_base": 999.0, "unknown": True}
    from_dict = build_model(grid_geometry(), raw, tiny_corpus(), table())
    from_model = build_model(
        grid_geometry(), Weights(penalty_sfb_base=999.0), tiny_corpus(), table()
    )
    assert from_dict.score(QWERTY) == from_model.score(QWERTY)


def test_the_trigram_limit_keeps_the_most_frequent_trigrams() -> None:
    limited = build_model(grid_geometry(), {"loader_trigram_limit": 1}, tiny_corpus(), table())
    everything = build_model(grid_geometry(), {"loader_trigram_limit": 0}, tiny_corpus(), table())
    assert len(limited.scored.counts) == len(limited.bigrams.counts) + 1
    assert len(everything.scored.counts) == len(everything.bigrams.counts) + 2  # "the" folded
    assert int(limited.scored.counts[-1]) == 17  # "the" 15 + "The" 2
