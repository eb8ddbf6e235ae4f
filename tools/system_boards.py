"""The default keyboards of ``data/system``: geometry and well-known layouts.

Geometry is authored here in the original ``definition`` format. Key ids are
browser key codes of the key a QWERTY typist presses at that spot (``KeyQ``,
``Semicolon``...), which is how the cost matrix names keys. Fingers: 0 thumb,
1 index, 2 middle, 3 ring, 4 pinky; hand 0 left, 1 right; x and y in key
units (19 mm). Layouts were typed in from their public descriptions; QWERTY is
first, so it is the reference that defines a job's alphabet.
"""

from __future__ import annotations

from typing import Any

Key = dict[str, Any]

ALPHA_IDS = [
    ["KeyQ", "KeyW", "KeyE", "KeyR", "KeyT", "KeyY", "KeyU", "KeyI", "KeyO", "KeyP"],
    ["KeyA", "KeyS", "KeyD", "KeyF", "KeyG", "KeyH", "KeyJ", "KeyK", "KeyL", "Semicolon"],
    ["KeyZ", "KeyX", "KeyC", "KeyV", "KeyB", "KeyN", "KeyM", "Comma", "Period", "Slash"],
]
# Finger of each of the ten alpha columns in standard touch typing.
COLUMN_FINGERS = [4, 3, 2, 1, 1, 1, 1, 2, 3, 4]
STRETCH_COLUMNS = {4, 5}

# The 30 alpha positions, row by row, as characters (the QMK name follows).
ALPHA_LAYOUTS = {
    "Qwerty": ["qwertyuiop", "asdfghjkl;", "zxcvbnm,./"],
    "Colemak": ["qwfpgjluy;", "arstdhneio", "zxcvbkm,./"],
    "Colemak-DH": ["qwfpbjluy;", "arstgmneio", "zxcdvkh,./"],
    "Workman": ["qdrwbjfup;", "ashtgyneoi", "zxmcvkl,./"],
    "Dvorak": ["',.pyfgcrl", "aoeuidhtns", ";qjkxbmwvz"],
}
CHAR_KEYCODES = {";": "KC_SCLN", ",": "KC_COMM", ".": "KC_DOT", "/": "KC_SLSH", "'": "KC_QUOT"}


def keycode(char: str) -> str:
    return CHAR_KEYCODES.get(char, f"KC_{char.upper()}")


def alpha_layout(rows: list[str]) -> list[str]:
    return [keycode(c) for row in rows for c in row]


def key(
    ident: str,
    *,
    hand: int,
    finger: int,
    row: int,
    col: int,
    x: float,
    y: float,
    stretch: bool = False,
) -> Key:
    return {
        "id": ident,
        "hand": hand,
        "finger": finger,
        "row": row,
        "col": col,
        "x": round(x, 3),
        "y": round(y, 3),
        "is_stretch": stretch,
    }


def alpha_block(row_offsets: tuple[float, float, float], split_gap: float = 0.0) -> list[Key]:
    keys = []
    for row, ids in enumerate(ALPHA_IDS):
        for col, ident in enumerate(ids):
            hand = 0 if col < 5 else 1
            x = col + row_offsets[row] + (split_gap if hand else 0.0)
            finger = COLUMN_FINGERS[col]
            stretch = col in STRETCH_COLUMNS
            keys.append(
                key(
                    ident,
                    hand=hand,
                    finger=finger,
                    row=row,
                    col=col,
                    x=x,
                    y=float(row),
                    stretch=stretch,
                )
            )
    return keys


def definition(
    meta: dict[str, str],
    keys: list[Key],
    tiers: dict[str, list[int]],
    layouts: dict[str, list[str]],
) -> dict[str, Any]:
    for name, layout in layouts.items():
        if len(layout) != len(keys):
            raise ValueError(f"{meta['name']} {name}: {len(layout)} keycodes for {len(keys)} keys")
    geometry = {"keys": keys, **tiers, "home_row": 1}
    joined = {name: " ".join(codes) for name, codes in layouts.items()}
    return {"meta": meta, "geometry": geometry, "layouts": joined}


def row_tiers(width: int, rows: int = 3) -> dict[str, list[int]]:
    """Home row prime, top row medium, bottom row low (slots by row-major index)."""
    by_row = [list(range(r * width, (r + 1) * width)) for r in range(rows)]
    return {"prime_slots": by_row[1], "med_slots": by_row[0], "low_slots": by_row[2]}


def ortho_30() -> dict[str, Any]:
    meta = {
        "name": "Ortho 30",
        "author": "KeyForge fleet",
        "version": "1.0",
        "type": "ortho",
        "notes": "30-key matrix grid, no stagger; ids are the QWERTY key at each spot.",
    }
    layouts = {name: alpha_layout(rows) for name, rows in ALPHA_LAYOUTS.items()}
    return definition(meta, alpha_block((0.0, 0.0, 0.0)), row_tiers(10), layouts)


def ansi_alpha() -> dict[str, Any]:
    # ANSI stagger: the home row sits 0.25 u and the bottom row 0.75 u right of the top row.
    meta = {
        "name": "ANSI alpha block",
        "author": "KeyForge fleet",
        "version": "1.0",
        "type": "row_staggered",
        "notes": "The 30 letter keys of a US ANSI board with its row stagger.",
    }
    layouts = {n: alpha_layout(r) for n, r in ALPHA_LAYOUTS.items() if n != "Colemak-DH"}
    return definition(meta, alpha_block((0.0, 0.25, 0.75)), row_tiers(10), layouts)


# Column stagger of the split board, per column from the outer pinky column inwards
# (the middle finger is the longest, the pinky the shortest).
SPLIT_COLUMN_Y = [0.45, 0.35, 0.1, 0.0, 0.15, 0.25]
SPLIT_OUTER = [("Tab", "Backspace"), ("Escape", "Quote"), ("ShiftLeft", "ShiftRight")]
SPLIT_THUMBS = ["ThumbL1", "ThumbL2", "ThumbL3", "ThumbR1", "ThumbR2", "ThumbR3"]


def split_3x6_3() -> dict[str, Any]:
    keys: list[Key] = []
    for row, ids in enumerate(ALPHA_IDS):
        left_outer, right_outer = SPLIT_OUTER[row]
        columns = [left_outer, *ids[:5], *ids[5:], right_outer]
        for col, ident in enumerate(columns):
            hand = 0 if col < 6 else 1
            inward = col if hand == 0 else 11 - col  # 0 = outer pinky column, 5 = stretch
            finger = [4, 4, 3, 2, 1, 1][inward]
            x = float(col) + (2.0 if hand else 0.0)
            y = row + SPLIT_COLUMN_Y[inward]
            keys.append(
                key(
                    ident, hand=hand, finger=finger, row=row, col=col, x=x, y=y, stretch=inward == 5
                )
            )
    for i, ident in enumerate(SPLIT_THUMBS):
        hand = 0 if i < 3 else 1
        x = 3.5 + i + (1.0 if hand else 0.0)
        y = 3.1 + 0.15 * (i if hand == 0 else 5 - i)
        keys.append(key(ident, hand=hand, finger=0, row=3, col=3 + i, x=x, y=y))
    home = [13, 14, 15, 16, 19, 20, 21, 22]
    medium = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 17, 18, 38, 39]
    low = [k for k in range(42) if k not in home and k not in medium]
    meta = {
        "name": "Split 3x6+3",
        "author": "KeyForge fleet",
        "version": "1.0",
        "type": "column_staggered",
        "notes": "42-key column-staggered split: 3x6 per hand plus 3 thumb keys.",
    }
    outer = [["KC_TAB", "KC_BSPC"], ["KC_ESC", "KC_QUOT"], ["KC_LSFT", "KC_RSFT"]]
    thumbs = ["KC_LCTL", "KC_LGUI", "KC_SPC", "KC_ENT", "KC_RALT", "KC_RCTL"]
    layouts = {}
    for name, rows in ALPHA_LAYOUTS.items():
        alpha = alpha_layout(rows)
        # Dvorak's quote lives in the alpha block; its slash takes the quote's place.
        right = [o[1] if name != "Dvorak" or o[1] != "KC_QUOT" else "KC_SLSH" for o in outer]
        grid = []
        for row in range(3):
            grid += [outer[row][0], *alpha[row * 10 : row * 10 + 10], right[row]]
        layouts[name] = grid + thumbs
    tiers = {"prime_slots": home, "med_slots": medium, "low_slots": low}
    return definition(meta, keys, tiers, layouts)


BOARDS = {"ortho_30": ortho_30, "split_3x6_3": split_3x6_3, "ansi_alpha": ansi_alpha}
