"""The compiled scoring model: full scores, swap deltas and layout states.

Only numbers that depend on the layout are left to compute: for every
character its monogram cost per slot (``mono``), for every scored n-gram row
its weight, and one table lookup per row. A full score adds every term with
``math.fsum`` (exactly rounded, so the sum does not depend on order, numpy
build or CPU). A swap delta touches only the rows holding a character whose
slot changes, one character at a time: moving ``a`` then ``b`` (through the
intermediate state where both share a slot) makes every row's change counted
exactly once, so rows holding both need no special case.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from keyforge_shared.formats import FormatError, KeycodeTable
from keyforge_shared.scoring.metrics import layout_metrics
from keyforge_shared.scoring.slots import FloatArray, IntArray, Slots
from keyforge_shared.scoring.state import NOTHING, LayoutState, planned_moves, swap_slots
from keyforge_shared.scoring.tables import CharGrams, CharSet, GramCosts, Grams
from keyforge_shared.scoring.weights import Weights

LEFT, RIGHT, NEITHER = 0, 1, 2  # hand-balance side of a slot; thumbs count for neither


@dataclass(frozen=True)
class ScoringModel:
    weights: Weights
    keycodes: KeycodeTable
    slots: Slots
    charset: CharSet
    costs: GramCosts
    scored: Grams  # every bigram, then the top trigrams (``loader_trigram_limit``)
    scored_weight: FloatArray  # scored counts / corpus_scale
    bigrams: Grams  # every bigram of the corpus, for metrics
    trigrams: Grams  # every trigram, most frequent first, for metrics
    mono: FloatArray  # (C, K + 2): weighted monogram cost of a character in a slot
    mono_rows: list[list[float]]  # the same as Python floats, for scalar-speed lookups
    char_grams: list[CharGrams]
    side: list[int]  # per slot of width K + 2
    unigrams: list[int]
    corpus_characters: int  # every unigram count, typeable or not: the coverage denominator

    @property
    def key_count(self) -> int:
        return self.slots.count

    def state(self, layout: Sequence[str]) -> LayoutState:
        """A mutable state for ``layout``: one keycode id per key slot, in key order."""
        if len(layout) != self.slots.count:
            raise FormatError(f"layout has {len(layout)} keycodes for {self.slots.count} keys")
        chars = [self._char_of(keycode) for keycode in layout]
        where = np.full(self.charset.pad + 1, self.slots.absent, dtype=np.int64)
        where[self.charset.zero] = 0
        where[self.charset.pad] = self.slots.pad
        held: dict[int, list[int]] = {}
        for slot, char in enumerate(chars):
            if char != NOTHING:
                held.setdefault(char, []).append(slot)
        load = [0, 0, 0]
        for char, slots in held.items():
            where[char] = slots[0]
            load[self.side[slots[0]]] += self.unigrams[char]
        shared = {char: slots for char, slots in held.items() if len(slots) > 1}
        return LayoutState(list(layout), chars, where, shared, load[LEFT], load[RIGHT])

    def score(self, layout: Sequence[str]) -> float:
        """The cost of a layout, lower is better; equal inputs give equal floats."""
        return self.score_state(self.state(layout))

    def score_state(self, state: LayoutState) -> float:
        where = state.slots
        count = len(self.charset.chars)
        mono = self.mono[np.arange(count), where[:count]]
        rows = where[self.scored.chars]
        grams = self.scored_weight * self.costs.rows(rows[:, 0], rows[:, 1], rows[:, 2])
        balance = self.balance_cost(state.left, state.right)
        return math.fsum([*mono.tolist(), *grams.tolist(), balance])

    def swap_delta(self, state: LayoutState, i: int, j: int) -> float:
        """score(state with slots i and j swapped) - score(state); ``state`` is left as it was.

        The optimizer's inner loop: the common case (each of the two characters
        on one key, dense table) is written out flat for speed.
        """
        chars = state.chars
        a, b = chars[i], chars[j]
        if a == b:
            return 0.0
        dense, shared = self.costs.dense, state.shared
        if dense is None or (shared and (a in shared or b in shared)):
            return self._moves_delta(state, planned_moves(state, i, j))
        where = state.slots
        delta = 0.0
        if a != NOTHING:
            row = self.mono_rows[a]
            delta = row[j] - row[i] + _dense_change(dense, self.char_grams[a], where, i, j)
        if b != NOTHING:
            row = self.mono_rows[b]
            delta += row[i] - row[j]
            if a != NOTHING:
                where[a] = j  # b's rows are priced with a already moved
            try:
                delta += _dense_change(dense, self.char_grams[b], where, j, i)
            finally:
                if a != NOTHING:
                    where[a] = i
        side = self.side
        if side[i] != side[j]:
            load = [state.left, state.right, 0]
            moved = (self.unigrams[a] if a != NOTHING else 0) - (
                self.unigrams[b] if b != NOTHING else 0
            )
            load[side[i]] -= moved
            load[side[j]] += moved
            delta += self.balance_cost(load[LEFT], load[RIGHT]) - self.balance_cost(
                state.left, state.right
            )
        return delta

    def _moves_delta(self, state: LayoutState, moves: list[tuple[int, int, int]]) -> float:
        """The general case: characters on several keys, or no dense table."""
        where = state.slots
        delta = 0.0
        load = [state.left, state.right, 0]
        try:
            for char, old, new in moves:
                row = self.mono_rows[char]
                delta += row[new] - row[old]
                delta += self._rows_delta(self.char_grams[char], where, char, old, new)
                where[char] = new
                load[self.side[old]] -= self.unigrams[char]
                load[self.side[new]] += self.unigrams[char]
        finally:
            for char, old, _ in moves:
                where[char] = old
        balance = self.balance_cost(load[LEFT], load[RIGHT])
        return delta + (balance - self.balance_cost(state.left, state.right))

    def apply_swap(self, state: LayoutState, i: int, j: int) -> None:
        """Swap slots i and j in place (the optimizer's accepted move)."""
        moves = planned_moves(state, i, j)
        load = [state.left, state.right, 0]
        for char, old, new in moves:
            load[self.side[old]] -= self.unigrams[char]
            load[self.side[new]] += self.unigrams[char]
        state.left, state.right = load[LEFT], load[RIGHT]
        swap_slots(state, i, j, moves)

    def metrics(self, layout: Sequence[str]) -> dict[str, float]:
        """The analyzer metrics of a layout (see ``keyforge_shared.scoring.metrics``)."""
        return layout_metrics(self, self.state(layout))

    def balance_cost(self, left: int, right: int) -> float:
        """Hinge on the busier hand's share above ``max_hand_imbalance``, per scaled keystroke."""
        w = self.weights
        excess = max(left, right) - w.max_hand_imbalance * (left + right)
        return w.penalty_imbalance * excess / w.corpus_scale if excess > 0 else 0.0

    def _rows_delta(
        self, grams: CharGrams, where: IntArray, char: int, old: int, new: int
    ) -> float:
        dense = self.costs.dense
        if dense is not None:
            return _dense_change(dense, grams, where, old, new)
        held = self.scored.chars[grams.rows]
        rows = where[held]
        before = self.costs.rows(rows[:, 0], rows[:, 1], rows[:, 2])
        rows = np.where(held == char, new, rows)
        after = self.costs.rows(rows[:, 0], rows[:, 1], rows[:, 2])
        return float((after - before) @ grams.weight)

    def _char_of(self, keycode: str) -> int:
        char = self.keycodes.char_of(keycode)
        return NOTHING if char is None else self.charset.index.get(char, NOTHING)


def _dense_change(
    dense: FloatArray, grams: CharGrams, where: IntArray, old: int, new: int
) -> float:
    """Weighted change of one character's rows when it moves from slot ``old`` to ``new``."""
    base = where.take(grams.first) * grams.first_stride
    base += where.take(grams.second) * grams.second_stride
    change = dense.take(base + grams.coeff * new) - dense.take(base + grams.coeff * old)
    return float(change @ grams.weight)
