"""The measured key-to-key time (``cost_matrix.csv``) laid onto geometry slots.

The matrix names keys by browser key codes (``KeyQ``, ``Comma``,
``Semicolon``). A geometry key id matches a code case-insensitively (the
original's ``keyq`` ids), through the short QMK-style names the original
geometries also use (``scln``, ``comm``, ``dot``, ``slsh``), or through an
explicit ``key_codes`` table {key id: code} supplied by the caller. Pairs the
matrix does not cover cost ``default_cost_ms``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from keyforge_shared.formats import CostEntry, Geometry
from keyforge_shared.scoring.slots import FloatArray

# Short key names seen in the original geometries, mapped to browser key codes.
SHORT_KEY_NAMES = {
    "scln": "semicolon",
    "comm": "comma",
    "dot": "period",
    "slsh": "slash",
    "quot": "quote",
    "mins": "minus",
    "eql": "equal",
    "lbrc": "bracketleft",
    "rbrc": "bracketright",
    "bsls": "backslash",
    "grv": "backquote",
    "spc": "space",
    "ent": "enter",
    "bspc": "backspace",
    "esc": "escape",
}


def key_timings(
    geometry: Geometry,
    entries: Sequence[CostEntry] | None,
    default_ms: float,
    key_codes: Mapping[str, str] | None = None,
) -> FloatArray:
    """K x K milliseconds from slot to slot (a same-key repeat included)."""
    count = len(geometry.keys)
    table = np.full((count, count), default_ms, dtype=np.float64)
    if not entries:
        return table
    explicit = {k.lower(): v.lower() for k, v in (key_codes or {}).items()}
    slot_of_code: dict[str, int] = {}
    for slot, key in enumerate(geometry.keys):
        ident = key.id.lower()
        code = explicit.get(ident) or SHORT_KEY_NAMES.get(ident, ident)
        slot_of_code.setdefault(code, slot)
    for entry in entries:
        a = slot_of_code.get(entry.from_key.lower())
        b = slot_of_code.get(entry.to_key.lower())
        if a is not None and b is not None:
            # A later row for the same pair wins, as a later line of a CSV edit would.
            table[a, b] = entry.cost_ms
    return table
