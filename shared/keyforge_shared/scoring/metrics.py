"""Layout metrics as keyboard-layout analyzers (genkey, oxeylyzer, cmini) report them.

Percentages are shares of corpus frequency among the n-grams the layout can
type (every character of the n-gram is on some key) that hold no whitespace:
analyzers leave the space bar out, and so a Corne with a space key and a
30-key grid without one report comparable numbers. They are computed from
the raw integer counts, so they are exact and identical everywhere. Every
trigram of the corpus counts here, not only the ones the score is limited
to; ``effort``, ``distance`` and ``left_hand`` skip whitespace too. Thumb keys
are never part of a roll, redirect, scissor or stretch. "Inward" means
towards the index finger (the original's finger numbers fall: pinky 4 to
index 1).

- ``sfb``: bigrams typed by one finger on two different keys.
- ``skip_bigrams``: trigrams whose first and third keys are different keys
  of one finger, whatever the middle key (the "skipgram" / SFS).
- ``lateral_stretch``: bigrams on neighbouring fingers of one hand where one
  key is a stretch key (``is_stretch``) and the keys are at least two key
  widths apart (genkey's LSB: middle finger and the index finger's inner column).
- ``pinky_scissors``: bigrams on one hand's ring and pinky fingers on
  different rows, where the pinky reaches higher than the ring finger or the
  rows are two or more apart (the shorter finger forced over the longer one).
- ``tri_redirect``: trigrams on one hand, three keystrokes on changing
  fingers whose direction reverses (ring-index-middle).
- ``roll_in`` / ``roll_out``: trigrams with two consecutive keystrokes on
  different fingers of one hand moving inward / outward, and the third
  keystroke on the other hand (cmini's "roll").
- ``effort``: mean finger effort per typed keystroke,
  ``weight_finger_effort x finger_penalty_scale[finger]`` plus
  ``penalty_monogram_stretch`` on stretch keys.
- ``distance``: mean finger travel per typed bigram, in key widths: from the
  previous key when the same finger typed it, else from the finger's home.
- ``coverage``: share of all corpus characters the layout types.
- ``left_hand``: share of finger (non-thumb) keystrokes on the left hand.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from keyforge_shared.scoring.costs import finger_effort, lateral_stretch_pairs
from keyforge_shared.scoring.slots import PINKY, RING, THUMB, BoolArray, IntArray
from keyforge_shared.scoring.state import LayoutState
from keyforge_shared.scoring.tables import WHITESPACE

if TYPE_CHECKING:  # the model imports this module to serve ``ScoringModel.metrics``
    from keyforge_shared.scoring.model import ScoringModel


def layout_metrics(model: ScoringModel, state: LayoutState) -> dict[str, float]:
    counted = _counted_chars(model, state)
    return {
        **_bigram_metrics(model, state, counted),
        **_trigram_metrics(model, state, counted),
        **_keystroke_metrics(model, state, counted),
    }


def _counted_chars(model: ScoringModel, state: LayoutState) -> BoolArray:
    """Per character index (pseudo-characters included): typed by the layout, not whitespace."""
    chars = model.charset.chars
    visible = np.array([ch not in WHITESPACE for ch in chars] + [True, True], dtype=np.bool_)
    result: BoolArray = visible & (state.slots < model.slots.count)
    result[model.charset.pad] = True  # the bigram filler never disqualifies a bigram
    return result


def _bigram_metrics(
    model: ScoringModel, state: LayoutState, counted: BoolArray
) -> dict[str, float]:
    slots, chars = model.slots, model.bigrams.chars[:, :2]
    typed = _every_column(counted[chars])
    counts = model.bigrams.counts
    # Untyped characters sit in the absent slot; clip so lookups stay in range (masked anyway).
    where = np.minimum(state.slots[chars], slots.count - 1)
    a, b = where[:, 0], where[:, 1]
    one_finger = (slots.hand[a] == slots.hand[b]) & (slots.finger[a] == slots.finger[b])
    return {
        "sfb": _percent(counts, typed, one_finger & (a != b)),
        "lateral_stretch": _percent(counts, typed, lateral_stretch_pairs(slots)[a, b]),
        "pinky_scissors": _percent(counts, typed, _pinky_scissors(model, a, b)),
        "distance": _mean(counts[typed], _travel(model, a, b, one_finger)[typed]),
    }


def _trigram_metrics(
    model: ScoringModel, state: LayoutState, counted: BoolArray
) -> dict[str, float]:
    slots, chars = model.slots, model.trigrams.chars
    typed = _every_column(counted[chars])
    counts = model.trigrams.counts
    where = np.minimum(state.slots[chars], slots.count - 1)
    h, f = slots.hand[where], slots.finger[where]
    skip = (h[:, 0] == h[:, 2]) & (f[:, 0] == f[:, 2]) & (where[:, 0] != where[:, 2])
    fingers_only = _every_column(f != THUMB)
    step1, step2 = f[:, 1] - f[:, 0], f[:, 2] - f[:, 1]
    one_hand = (h[:, 0] == h[:, 1]) & (h[:, 1] == h[:, 2]) & fingers_only
    redirect = one_hand & (step1 != 0) & (step2 != 0) & ((step1 > 0) != (step2 > 0))
    first_pair = (h[:, 0] == h[:, 1]) & (h[:, 1] != h[:, 2]) & (step1 != 0)
    second_pair = (h[:, 0] != h[:, 1]) & (h[:, 1] == h[:, 2]) & (step2 != 0)
    roll_in = fingers_only & ((first_pair & (step1 < 0)) | (second_pair & (step2 < 0)))
    roll_out = fingers_only & ((first_pair & (step1 > 0)) | (second_pair & (step2 > 0)))
    return {
        "skip_bigrams": _percent(counts, typed, skip),
        "tri_redirect": _percent(counts, typed, redirect),
        "roll_in": _percent(counts, typed, roll_in),
        "roll_out": _percent(counts, typed, roll_out),
    }


def _keystroke_metrics(
    model: ScoringModel, state: LayoutState, counted: BoolArray
) -> dict[str, float]:
    slots, count = model.slots, len(model.charset.chars)
    where = state.slots[:count]
    counts = model.charset.unigram_counts
    typed = where < slots.count
    visible = counted[:count]
    keyed = where[visible]
    fingered = slots.finger[keyed] != THUMB
    left = (slots.hand[keyed] == 0) & fingered
    return {
        "effort": _mean(counts[visible], finger_effort(slots, model.weights)[keyed]),
        "coverage": _ratio(int(counts[typed].sum()), model.corpus_characters),
        "left_hand": _ratio(int(counts[visible][left].sum()), int(counts[visible][fingered].sum())),
    }


def _pinky_scissors(model: ScoringModel, a: IntArray, b: IntArray) -> BoolArray:
    slots = model.slots
    fa, fb, ra, rb = slots.finger[a], slots.finger[b], slots.row[a], slots.row[b]
    pinky_row = np.where(fa == PINKY, ra, rb)
    ring_row = np.where(fa == PINKY, rb, ra)
    pair = (slots.hand[a] == slots.hand[b]) & (
        ((fa == PINKY) & (fb == RING)) | ((fa == RING) & (fb == PINKY))
    )
    result: BoolArray = pair & ((pinky_row < ring_row) | (np.abs(ra - rb) >= 2))
    return result


def _travel(model: ScoringModel, a: IntArray, b: IntArray, one_finger: BoolArray) -> np.ndarray:
    slots = model.slots
    start = np.where(one_finger, a, slots.home[b])
    dx, dy = slots.x[b] - slots.x[start], slots.y[b] - slots.y[start]
    return np.sqrt(dx * dx + dy * dy)  # sqrt is exactly rounded; hypot is not everywhere


def _every_column(mask: BoolArray) -> BoolArray:
    return np.asarray(mask.all(axis=1), dtype=np.bool_)


def _percent(counts: IntArray, typed: BoolArray, hit: BoolArray) -> float:
    return _ratio(int(counts[typed & hit].sum()), int(counts[typed].sum()))


def _ratio(part: int, whole: int) -> float:
    return 100.0 * part / whole if whole else 0.0


def _mean(counts: IntArray, values: np.ndarray) -> float:
    total = int(counts.sum())
    if not total:
        return 0.0
    return math.fsum((counts * values).tolist()) / total
