"""The KeyForge scorer: the cost of a keyboard layout, lower is better.

Use::

    model = build_model(definition, weights, load_corpus(b1, b2, b3), keycodes, cost_matrix)
    model.score(layout)               # float, identical on every machine
    model.metrics(layout)             # {"sfb": %, ..., "effort", "distance", "coverage"}
    state = model.state(layout)       # the optimizer's mutable view
    model.swap_delta(state, i, j)     # score change if slots i and j swapped
    model.apply_swap(state, i, j)     # accept it; state.layout() gives the keycodes back

A layout is one keycode id per geometry key (``formats.parse_layout``). A
keycode types the character ``KeycodeTable.char_of`` gives; modifiers,
``KC_TRNS`` and the like type nothing. Corpus characters no key types are left
out (``metrics()["coverage"]`` says how much of the corpus is typed); upper
case counts as its lower-case key. Pinned keys are the optimizer's business.

The model. Counts are raw corpus counts divided by ``corpus_scale``; costs
are in milliseconds-equivalent per keystroke, so the score is the scaled
corpus's typing cost. With f = finger (0 thumb, 1 index .. 4 pinky; ring and
pinky are "weak"), "same hand" and key rows/columns from the geometry:

1. Per character c typed from slot s, count(c) x:
   ``weight_finger_effort x finger_penalty_scale[f]`` (effort), plus the
   weighted distance from the finger's home key (``weight_lateral_travel`` on
   x, ``weight_vertical_travel`` on y), plus ``penalty_monogram_stretch`` on a
   stretch key, plus the tier penalty: characters ranked by frequency fill
   tiers as large as the geometry's prime/med/low slot lists (whitespace has
   no tier), and a char of tier T in a slot of tier U costs
   ``penalty_<T>_in_<U>`` (``penalty_high_in_med`` ...).
2. Per bigram typed from slots p then q, count x (time + shape), where time is
   ``cost_matrix`` [p][q] in ms (``default_cost_ms`` where it has no entry) and
   shape is, on one hand:
   - same key (a repeated letter): ``penalty_sfr_weak_finger`` if weak, plus
     ``penalty_sfr_bad_row`` off the home row, plus ``penalty_sfr_lat`` on a
     stretch key;
   - same finger, other key (SFB), the first that fits: one column sideways in
     one row, ``penalty_sfb_lateral`` (``penalty_sfb_lateral_weak`` if weak);
     both keys below the home row, ``penalty_sfb_bottom``; at least
     ``threshold_sfb_long_row_diff`` rows apart, ``penalty_sfb_long``; rows and
     columns differ, ``penalty_sfb_diagonal``; else ``penalty_sfb_base`` plus
     ``penalty_sfb_outward_adder`` when moving away from the home row. Weak
     fingers multiply it by ``weight_weak_finger_sfb`` (except the lateral-weak
     case, which is already weak). Plus the weighted travel between the keys;
   - neighbouring non-thumb fingers at least ``threshold_scissor_row_diff`` rows
     apart, unless (upper finger, lower finger) is in ``comfortable_scissors``:
     ``penalty_scissor`` (times ``penalty_ring_pinky`` for ring and pinky);
   - neighbouring non-thumb fingers, one key a stretch key, >= 2 key widths
     apart (a lateral stretch): ``penalty_lateral``;
   - any other two non-thumb fingers roll: minus ``bonus_bigram_roll_in``
     towards the index finger, minus ``bonus_bigram_roll_out`` away from it.
   Different hands and thumb pairs cost their time only.
3. Per trigram among the ``loader_trigram_limit`` most frequent, count x:
   ``penalty_skip`` (times ``weight_weak_finger_sfb`` if weak) when its first
   and third keys are different keys of one finger; and, when all three keys
   are non-thumb keys of one hand, ``penalty_hand_run``, plus
   ``penalty_redirect`` if the finger direction reverses, or minus
   ``bonus_inward_roll`` if it moves inward twice.
4. Hand balance: with L and R the counts typed by each hand's fingers
   (thumbs excluded), ``penalty_imbalance x max(0, max(L, R) -
   max_hand_imbalance x (L + R)) / corpus_scale``.

A model is immutable once built and may be shared between threads (build it
once per job and cache it); a ``LayoutState`` belongs to one thread, since a
swap delta moves characters in it for a moment and puts them back.

Determinism: all tables are float64 built by fixed elementwise arithmetic (no
transcendental functions beyond the exactly rounded sqrt), and a full score is
the exactly rounded ``math.fsum`` of its terms. ``swap_delta`` adds the changed terms with numpy
and agrees with the difference of full scores far inside 1e-9 relative (about
1e-16 measured); an optimizer that chains millions of deltas should rescore
with ``score_state`` now and then (and must report a full score).
Metric definitions are in ``keyforge_shared.scoring.metrics``.
"""

from keyforge_shared.scoring.build import build_model
from keyforge_shared.scoring.corpus import Corpus, load_corpus
from keyforge_shared.scoring.model import ScoringModel
from keyforge_shared.scoring.state import LayoutState
from keyforge_shared.scoring.weights import Weights, parse_weights

__all__ = [
    "Corpus",
    "LayoutState",
    "ScoringModel",
    "Weights",
    "build_model",
    "load_corpus",
    "parse_weights",
]
