"""Where every character sits in one layout, kept current under swaps."""

from __future__ import annotations

from dataclasses import dataclass

from keyforge_shared.scoring.slots import IntArray

NOTHING = -1  # a slot whose keycode types no corpus character (KC_LSFT, KC_TRNS, ...)


@dataclass
class LayoutState:
    """A layout as the optimizer mutates it.

    ``chars[slot]`` is the character index a slot types (or NOTHING);
    ``slots[char]`` is the slot a character is typed from (the absent slot when
    no key types it). A character several keys type (a second space bar) is
    typed from the lowest of its slots; ``shared`` lists those slots.
    ``left``/``right`` are the unigram counts typed by each hand's fingers.
    """

    keycodes: list[str]
    chars: list[int]
    slots: IntArray
    shared: dict[int, list[int]]
    left: int
    right: int

    def layout(self) -> list[str]:
        return list(self.keycodes)

    def copy(self) -> LayoutState:
        return LayoutState(
            list(self.keycodes),
            list(self.chars),
            self.slots.copy(),
            {c: list(s) for c, s in self.shared.items()},
            self.left,
            self.right,
        )


def planned_moves(state: LayoutState, i: int, j: int) -> list[tuple[int, int, int]]:
    """(character, from slot, to slot) for each character whose slot a swap of i and j changes."""
    a, b = state.chars[i], state.chars[j]
    if a == b:
        return []
    moves = []
    for char, leaves, lands in ((a, i, j), (b, j, i)):
        if char == NOTHING:
            continue
        old = int(state.slots[char])
        if char in state.shared:
            new = min(s for s in (*state.shared[char], lands) if s != leaves)
        else:
            new = lands
        if new != old:
            moves.append((char, old, new))
    return moves


def swap_slots(state: LayoutState, i: int, j: int, moves: list[tuple[int, int, int]]) -> None:
    """Swap the contents of slots i and j; ``moves`` are ``planned_moves(state, i, j)``."""
    a, b = state.chars[i], state.chars[j]
    state.keycodes[i], state.keycodes[j] = state.keycodes[j], state.keycodes[i]
    state.chars[i], state.chars[j] = b, a
    if a != b:
        for char, leaves, lands in ((a, i, j), (b, j, i)):
            if char in state.shared:
                held = state.shared[char]
                held[held.index(leaves)] = lands
                held.sort()
    for char, _, new in moves:
        state.slots[char] = new
