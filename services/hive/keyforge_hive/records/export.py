"""A layout taken to a keyboard: QMK keymap JSON, a ``keymap.c``, keyboard-layout-editor JSON.

Keys go in the job's geometry order, which is the order of its layouts; the
QMK outputs name the ``LAYOUT`` macro of a board whose matrix follows that
order. KLE places every key at its geometry ``x``/``y`` (one KLE row per key,
so a staggered or split board keeps its exact positions) with its legend.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from itertools import groupby
from typing import Any

from keyforge_shared.formats import KeyboardDefinition, KeycodeTable


def keyboard_slug(name: str) -> str:
    """``Split 3x6+3`` -> ``split_3x6_3``: a QMK-style keyboard and keymap name."""
    slug = re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")
    return slug or "keyboard"


def qmk_json(definition: KeyboardDefinition, layout: Sequence[str], job_id: str) -> dict[str, Any]:
    return {
        "version": 1,
        "notes": f"KeyForge job {job_id}",
        "keyboard": keyboard_slug(definition.meta.name),
        "keymap": f"keyforge_{job_id[:8]}",
        "layout": "LAYOUT",
        "layers": [list(layout)],
        "author": "keyforge",
    }


def qmk_c(
    definition: KeyboardDefinition, layout: Sequence[str], job_id: str, score: float | None
) -> str:
    keys = definition.geometry.keys
    # One source line per geometry row, in key order, so the file reads like the board.
    lines = []
    indexed = list(enumerate(keys))
    for _, group in groupby(indexed, key=lambda item: item[1].row):
        lines.append(", ".join(layout[i] for i, _ in group))
    body = ",\n        ".join(lines)
    scored = f", score {score!r}" if score is not None else ""
    return (
        f"// {definition.meta.name or 'keyboard'}: KeyForge job {job_id}{scored}\n"
        "#include QMK_KEYBOARD_H\n\n"
        "const uint16_t PROGMEM keymaps[][MATRIX_ROWS][MATRIX_COLS] = {\n"
        f"    [0] = LAYOUT(\n        {body}\n    )\n"
        "};\n"
    )


def legend(keycodes: KeycodeTable, keycode: str) -> str:
    entry = keycodes.by_name.get(keycode)
    if entry is not None and entry.label:
        return entry.label
    return keycode.removeprefix("KC_")


def kle(definition: KeyboardDefinition, layout: Sequence[str], keycodes: KeycodeTable) -> list[Any]:
    """KLE starts each row at x 0, y one below the previous row; offsets put keys in place."""
    rows: list[Any] = [{"name": definition.meta.name, "author": "keyforge"}]
    cursor_y: float | None = None
    for key, keycode in zip(definition.geometry.keys, layout, strict=True):
        dy = key.y if cursor_y is None else key.y - (cursor_y + 1)
        props: dict[str, float] = {"x": key.x, "y": round(dy, 6)}
        if key.w != 1:
            props["w"] = key.w
        if key.h != 1:
            props["h"] = key.h
        rows.append([props, legend(keycodes, keycode)])
        cursor_y = key.y
    return rows


def render(
    fmt: str,
    *,
    definition: KeyboardDefinition,
    layout: Sequence[str],
    keycodes: KeycodeTable,
    job_id: str,
    score: float | None,
) -> tuple[str, str]:
    """The export's text and media type."""
    if fmt == "qmk-c":
        return qmk_c(definition, layout, job_id, score), "text/x-c; charset=utf-8"
    value = (
        qmk_json(definition, layout, job_id)
        if fmt == "qmk-json"
        else kle(definition, layout, keycodes)
    )
    return json.dumps(value, indent=2, ensure_ascii=False) + "\n", "application/json"
