"""``keycodes.json``: the standard QMK ``KC_*`` ids with their common aliases.

``code`` follows the original's convention, which the scorer relies on: a key
that types a character carries that character's ASCII code (letters as
upper case, Enter 10, Tab 9); every other key gets a code of 128 or more.
Keypad keys are deliberately non-typing so each character has one keycode.
"""

from __future__ import annotations

import string
from typing import Any

# (id, character typed, label, aliases)
TYPING: list[tuple[str, str, str, list[str]]] = [
    ("KC_TAB", "\t", "Tab", []),
    ("KC_ENT", "\n", "Enter", ["KC_ENTER"]),
    ("KC_SPC", " ", "Space", ["KC_SPACE"]),
    ("KC_EXLM", "!", "!", ["KC_EXCLAIM"]),
    ("KC_DQUO", '"', '"', ["KC_DOUBLE_QUOTE", "KC_DQT"]),
    ("KC_HASH", "#", "#", []),
    ("KC_DLR", "$", "$", ["KC_DOLLAR"]),
    ("KC_PERC", "%", "%", ["KC_PERCENT"]),
    ("KC_AMPR", "&", "&", ["KC_AMPERSAND"]),
    ("KC_QUOT", "'", "'", ["KC_QUOTE"]),
    ("KC_LPRN", "(", "(", ["KC_LEFT_PAREN"]),
    ("KC_RPRN", ")", ")", ["KC_RIGHT_PAREN"]),
    ("KC_ASTR", "*", "*", ["KC_ASTERISK"]),
    ("KC_PLUS", "+", "+", []),
    ("KC_COMM", ",", ",", ["KC_COMMA"]),
    ("KC_MINS", "-", "-", ["KC_MINUS"]),
    ("KC_DOT", ".", ".", []),
    ("KC_SLSH", "/", "/", ["KC_SLASH"]),
    ("KC_COLN", ":", ":", ["KC_COLON"]),
    ("KC_SCLN", ";", ";", ["KC_SEMICOLON"]),
    ("KC_LABK", "<", "<", ["KC_LT", "KC_LEFT_ANGLE_BRACKET"]),
    ("KC_EQL", "=", "=", ["KC_EQUAL"]),
    ("KC_RABK", ">", ">", ["KC_GT", "KC_RIGHT_ANGLE_BRACKET"]),
    ("KC_QUES", "?", "?", ["KC_QUESTION"]),
    ("KC_AT", "@", "@", []),
    ("KC_LBRC", "[", "[", ["KC_LEFT_BRACKET"]),
    ("KC_BSLS", "\\", "\\", ["KC_BACKSLASH"]),
    ("KC_RBRC", "]", "]", ["KC_RIGHT_BRACKET"]),
    ("KC_CIRC", "^", "^", ["KC_CIRCUMFLEX"]),
    ("KC_UNDS", "_", "_", ["KC_UNDERSCORE"]),
    ("KC_GRV", "`", "`", ["KC_GRAVE"]),
    ("KC_LCBR", "{", "{", ["KC_LEFT_CURLY_BRACE"]),
    ("KC_PIPE", "|", "|", []),
    ("KC_RCBR", "}", "}", ["KC_RIGHT_CURLY_BRACE"]),
    ("KC_TILD", "~", "~", ["KC_TILDE"]),
]
TYPING += [(f"KC_{d}", d, d, []) for d in string.digits]
TYPING += [(f"KC_{c}", c, c, []) for c in string.ascii_uppercase]

# (id, code, label, aliases) for keys that type no character.
CONTROL: list[tuple[str, int, str, list[str]]] = [
    ("KC_NO", 0, "", ["XXXXXXX"]),
    ("KC_TRNS", 1, "", ["_______", "KC_TRANSPARENT"]),
    ("KC_BSPC", 8, "Bksp", ["KC_BACKSPACE"]),
    ("KC_ESC", 27, "Esc", ["KC_ESCAPE"]),
    ("KC_DEL", 127, "Del", ["KC_DELETE"]),
]
NAMED: list[tuple[str, str, list[str]]] = [
    ("KC_LCTL", "Ctrl", ["KC_LEFT_CTRL"]),
    ("KC_LSFT", "Shift", ["KC_LEFT_SHIFT"]),
    ("KC_LALT", "Alt", ["KC_LEFT_ALT", "KC_LOPT"]),
    ("KC_LGUI", "Gui", ["KC_LEFT_GUI", "KC_LCMD", "KC_LWIN"]),
    ("KC_RCTL", "Ctrl", ["KC_RIGHT_CTRL"]),
    ("KC_RSFT", "Shift", ["KC_RIGHT_SHIFT"]),
    ("KC_RALT", "AltGr", ["KC_RIGHT_ALT", "KC_ROPT", "KC_ALGR"]),
    ("KC_RGUI", "Gui", ["KC_RIGHT_GUI", "KC_RCMD", "KC_RWIN"]),
    ("KC_CAPS", "Caps", ["KC_CAPS_LOCK"]),
    ("KC_PSCR", "PrtSc", ["KC_PRINT_SCREEN"]),
    ("KC_SCRL", "ScrLk", ["KC_SCROLL_LOCK", "KC_SLCK"]),
    ("KC_PAUS", "Pause", ["KC_PAUSE", "KC_BRK"]),
    ("KC_INS", "Ins", ["KC_INSERT"]),
    ("KC_HOME", "Home", []),
    ("KC_PGUP", "PgUp", ["KC_PAGE_UP"]),
    ("KC_END", "End", []),
    ("KC_PGDN", "PgDn", ["KC_PAGE_DOWN"]),
    ("KC_RGHT", "Right", ["KC_RIGHT"]),
    ("KC_LEFT", "Left", []),
    ("KC_DOWN", "Down", []),
    ("KC_UP", "Up", []),
    ("KC_APP", "Menu", ["KC_APPLICATION"]),
    ("KC_NUM", "NumLk", ["KC_NUM_LOCK", "KC_NLCK"]),
    ("KC_PSLS", "KP /", ["KC_KP_SLASH"]),
    ("KC_PAST", "KP *", ["KC_KP_ASTERISK"]),
    ("KC_PMNS", "KP -", ["KC_KP_MINUS"]),
    ("KC_PPLS", "KP +", ["KC_KP_PLUS"]),
    ("KC_PENT", "KP Ent", ["KC_KP_ENTER"]),
    ("KC_PDOT", "KP .", ["KC_KP_DOT"]),
    ("KC_PEQL", "KP =", ["KC_KP_EQUAL"]),
    ("KC_PCMM", "KP ,", ["KC_KP_COMMA"]),
    *[(f"KC_P{d}", f"KP {d}", [f"KC_KP_{d}"]) for d in "1234567890"],
    *[(f"KC_F{n}", f"F{n}", []) for n in range(1, 25)],
    *[(f"MO({n})", f"MO{n}", []) for n in range(1, 4)],
    *[(f"TG({n})", f"TG{n}", []) for n in range(1, 4)],
]
FIRST_NAMED_CODE = 128


def keycode_entries() -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = []
    for ident, code, label, aliases in CONTROL:
        entries.append({"code": code, "id": ident, "label": label, "aliases": aliases})
    for ident, char, label, aliases in TYPING:
        entries.append({"code": ord(char), "id": ident, "label": label, "aliases": aliases})
    for offset, (ident, label, aliases) in enumerate(NAMED):
        entries.append(
            {"code": FIRST_NAMED_CODE + offset, "id": ident, "label": label, "aliases": aliases}
        )
    return entries
