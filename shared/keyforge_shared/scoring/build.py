"""Compile a keyboard, weights, corpus and keycodes into a ``ScoringModel``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from keyforge_shared.formats import CostEntry, Geometry, KeyboardDefinition, KeycodeTable
from keyforge_shared.scoring.corpus import Corpus
from keyforge_shared.scoring.costs import (
    finger_effort,
    flow_costs,
    hand_finger_class,
    pair_costs,
    reach,
    skip_costs,
    tier_penalties,
)
from keyforge_shared.scoring.model import LEFT, NEITHER, RIGHT, ScoringModel
from keyforge_shared.scoring.slots import THUMB, FloatArray, Slots, compile_slots
from keyforge_shared.scoring.tables import (
    CharSet,
    Grams,
    char_grams,
    compile_chars,
    compile_grams,
    gram_costs,
)
from keyforge_shared.scoring.timing import key_timings
from keyforge_shared.scoring.weights import Weights, parse_weights


def build_model(
    keyboard: KeyboardDefinition | Geometry,
    weights: Weights | Mapping[str, Any],
    corpus: Corpus,
    keycodes: KeycodeTable,
    cost_matrix: Sequence[CostEntry] | None = None,
    *,
    key_codes: Mapping[str, str] | None = None,
) -> ScoringModel:
    """The scorer for one job: build once (tens of milliseconds), score many layouts.

    ``weights`` may be the raw weights object of a job spec. ``key_codes``
    maps geometry key ids to the cost matrix's key codes where neither the id
    itself nor its short QMK-style name matches.
    """
    geometry = keyboard.geometry if isinstance(keyboard, KeyboardDefinition) else keyboard
    w = weights if isinstance(weights, Weights) else parse_weights(weights)
    slots = compile_slots(geometry)
    charset = compile_chars(corpus, keycodes, slots)
    timings = key_timings(geometry, cost_matrix, w.default_cost_ms, key_codes)
    costs = gram_costs(
        slots,
        pair_costs(slots, w, timings),
        skip_costs(slots, w),
        flow_costs(w),
        hand_finger_class(slots),
    )
    bigrams = compile_grams(dict(corpus.bigrams), 2, charset, keycodes)
    trigrams = compile_grams(dict(corpus.trigrams), 3, charset, keycodes)
    scored_trigrams = trigrams.chars[: w.loader_trigram_limit or len(trigrams.counts)]
    scored_chars = np.concatenate([bigrams.chars, scored_trigrams])
    scored_counts = np.concatenate([bigrams.counts, trigrams.counts[: len(scored_trigrams)]])
    scored_weight = scored_counts / w.corpus_scale
    mono = _monogram_costs(slots, w, charset)
    model = ScoringModel(
        weights=w,
        keycodes=keycodes,
        slots=slots,
        charset=charset,
        costs=costs,
        scored=Grams(scored_chars, scored_counts),
        scored_weight=scored_weight,
        bigrams=bigrams,
        trigrams=trigrams,
        mono=mono,
        mono_rows=mono.tolist(),
        char_grams=[
            char_grams(scored_chars, scored_weight, char, charset.zero, slots.width)
            for char in range(len(charset.chars))
        ],
        side=_sides(slots),
        unigrams=[int(c) for c in charset.unigram_counts],
        corpus_characters=sum(corpus.unigrams.values()),
    )
    _read_only(model, model.slots, model.charset, model.costs, model.scored, model.bigrams)
    _read_only(model.trigrams, *model.char_grams)
    return model


def _read_only(*parts: object) -> None:
    """One model serves many threads (the hive scores off its event loop): no table may change."""
    for part in parts:
        for value in vars(part).values():
            if isinstance(value, np.ndarray):
                value.flags.writeable = False


def _monogram_costs(slots: Slots, weights: Weights, charset: CharSet) -> FloatArray:
    """(C, K + 2): count / corpus_scale x (effort + reach + tier penalty); nothing off the board."""
    per_slot = finger_effort(slots, weights) + reach(slots, weights)
    tiers = tier_penalties(weights)[charset.tier[:, None], slots.tier[None, :]]
    share = charset.unigram_counts / weights.corpus_scale
    table = np.zeros((len(charset.chars), slots.width), dtype=np.float64)
    table[:, : slots.count] = share[:, None] * (per_slot[None, :] + tiers)
    return table


def _sides(slots: Slots) -> list[int]:
    sides = [NEITHER] * slots.width
    for slot in range(slots.count):
        if slots.finger[slot] != THUMB:
            sides[slot] = LEFT if slots.hand[slot] == 0 else RIGHT
    return sides
