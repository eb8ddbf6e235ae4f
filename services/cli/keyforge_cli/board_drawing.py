"""A layout drawn on its keyboard in the terminal: one text line per geometry row.

Rows are the geometry's rows in order of their mean ``y``; within a row each
key sits at its ``x`` (``CELL`` characters per key unit), so a split board
keeps its gap and the thumb cluster sits under the hands where it is.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import groupby
from typing import Any

from rich.text import Text

CELL = 6  # characters per key unit: a five-letter legend and a space


@dataclass(frozen=True)
class PlacedKey:
    slot: int
    column: int  # character offset in the line
    legend: str


def legend_of(keycode: str, labels: Mapping[str, str]) -> str:
    label = labels.get(keycode) or keycode.removeprefix("KC_")
    return label[: CELL - 1]


def board_rows(geometry_keys: Sequence[Mapping[str, Any]], layout: Sequence[str],
               labels: Mapping[str, str]) -> list[list[PlacedKey]]:  # fmt: skip
    """The keys of each drawn line, left to right."""
    slots = sorted(range(len(geometry_keys)), key=lambda s: geometry_keys[s]["row"])
    rows = [list(g) for _, g in groupby(slots, key=lambda s: geometry_keys[s]["row"])]
    rows.sort(key=lambda r: sum(float(geometry_keys[s]["y"]) for s in r) / len(r))
    left = min(float(k["x"]) for k in geometry_keys)
    drawn = []
    for row in rows:
        row.sort(key=lambda s: float(geometry_keys[s]["x"]))
        drawn.append([
            PlacedKey(s, round((float(geometry_keys[s]["x"]) - left) * CELL),
                      legend_of(layout[s], labels))
            for s in row
        ])  # fmt: skip
    return drawn


def draw_board(geometry_keys: Sequence[Mapping[str, Any]], layout: Sequence[str],
               labels: Mapping[str, str], pinned: set[int] | frozenset[int] = frozenset()
               ) -> Text:  # fmt: skip
    """Free keys bold, pinned keys dim."""
    text = Text()
    for index, row in enumerate(board_rows(geometry_keys, layout, labels)):
        if index:
            text.append("\n")
        width = 0
        for key in row:
            gap = max(key.column - width, 1 if width else 0)
            text.append(" " * gap)
            text.append(key.legend.center(CELL - 1), style="dim" if key.slot in pinned else "bold")
            width += gap + CELL - 1
    return text
