"""A hand-built 3 x 10 grid (the original ortho_30's shape) for unit tests without data files."""

from __future__ import annotations

from keyforge_shared.formats import Geometry, Key

ROWS = ("qwertyuiop", "asdfghjkl;", "zxcvbnm,./")
# Column -> (hand, finger): pinky, ring, middle, index, index | index, index, middle, ring, pinky.
FINGERS = [(0, 4), (0, 3), (0, 2), (0, 1), (0, 1), (1, 1), (1, 1), (1, 2), (1, 3), (1, 4)]
IDS = {";": "scln", ",": "comm", ".": "dot", "/": "slsh"}


def grid_geometry(*, thumb: bool = False) -> Geometry:
    keys = []
    for row, letters in enumerate(ROWS):
        for col, letter in enumerate(letters):
            hand, finger = FINGERS[col]
            keys.append(
                Key(
                    id=IDS.get(letter, f"key{letter}"),
                    hand=hand,
                    finger=finger,
                    row=row,
                    col=col,
                    x=float(col),
                    y=float(row),
                    is_stretch=col in (4, 5),
                )
            )
    if thumb:
        keys.append(Key(id="spc", hand=0, finger=0, row=3, col=4, x=4.0, y=3.0))
    return Geometry(
        keys=keys,
        prime_slots=list(range(10, 20)),
        med_slots=list(range(10)),
        low_slots=list(range(20, 30)),
        home_row=1,
    )


def slot(letter: str) -> int:
    return "".join(ROWS).index(letter)
