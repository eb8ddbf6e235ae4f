"""``keyforge job create``: the original ``POST /jobs`` body, built from published assets.

``--optimize alpha`` (the default) lets the search move only the character
keys: a slot whose reference keycode types no printable character of the
corpus (modifiers, layer keys, ``KC_TRNS``, Enter, Space, Tab, Esc,
Backspace) stays pinned where the reference layout has it. Without that, a
keycode that types nothing costs nothing wherever it goes, and the optimizer
happily parks Shift on the home row and a letter on a thumb.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Any

from keyforge_cli.job_assets import PublishedAssets
from keyforge_cli.operator_target import OperatorError
from keyforge_shared.formats import (
    FormatError,
    KeycodeTable,
    parse_definition,
    parse_keycodes,
    parse_layout,
    parse_ngrams,
    parse_pinned_keys,
)

# The original client's search parameters.
DEFAULT_PARAMS: Mapping[str, float] = {
    "search_epochs": 20,
    "search_steps": 50_000,
    "search_patience": 5,
    "search_patience_threshold": 0.1,
    "temp_min": 0.1,
    "temp_max": 100.0,
    "opt_limit_fast": 20,
    "opt_limit_slow": 100,
}


def character_slots(reference: list[str], keycodes: KeycodeTable, corpus: set[str]) -> set[int]:
    """Slots whose keycode types a visible character the corpus contains."""
    free = set()
    for slot, keycode in enumerate(reference):
        char = keycodes.char_of(keycode)
        if char is not None and not char.isspace() and char in corpus:
            free.add(slot)
    return free


def parse_params(assignments: list[str]) -> dict[str, float]:
    params = dict(DEFAULT_PARAMS)
    for text in assignments:
        name, sep, raw = text.partition("=")
        if not sep or name not in DEFAULT_PARAMS:
            raise OperatorError(
                f"{text!r}: write NAME=NUMBER with NAME one of {', '.join(DEFAULT_PARAMS)}"
            )
        try:
            value = float(raw)
        except ValueError:
            raise OperatorError(f"{text!r}: {raw!r} is not a number") from None
        params[name] = int(value) if value.is_integer() and name != "temp_min" else value
    return params


def merge_pins(
    alpha_pins: dict[int, str], explicit: list[str], keycodes: KeycodeTable, reference: list[str]
) -> str:
    """``--pin`` entries win over the alpha pins of their slot; the result as ``pinned_keys``."""
    try:
        pins = {**alpha_pins, **parse_pinned_keys(",".join(explicit), keycodes, len(reference))}
    except FormatError as exc:
        raise OperatorError(f"--pin: {exc}") from None
    over = Counter(pins.values()) - Counter(reference)
    if over:
        raise OperatorError(
            f"--pin: {', '.join(sorted(over))} pinned more often than the keyboard has it"
        )
    return ",".join(f"{slot}:{keycode}" for slot, keycode in sorted(pins.items()))


async def build_job_body(
    assets: PublishedAssets,
    *,
    keyboard: str,
    weights: str | None = None,
    corpus: str | None = None,
    cost_matrix: str | None = None,
    pins: list[str] | None = None,
    optimize: str = "alpha",
    params: list[str] | None = None,
) -> dict[str, Any]:
    stem, definition_json = await assets.keyboard(keyboard)
    try:
        definition = parse_definition(definition_json)
        _, reference_text = definition.reference_layout()
        keycodes = parse_keycodes(await assets.read("keycodes.json"))
        reference = parse_layout(reference_text, keycodes, len(definition.geometry.keys))
    except FormatError as exc:
        raise OperatorError(f"keyboard {stem}: {exc}") from None
    corpus_name = assets.corpus_name(corpus)
    alpha_pins: dict[int, str] = {}
    if optimize == "alpha":
        unigrams = parse_ngrams(await assets.read(f"corpora/{corpus_name}/1grams.csv"), 1)
        free = character_slots(reference, keycodes, {c.lower() for c in unigrams})
        alpha_pins = {s: k for s, k in enumerate(reference) if s not in free}
    weights_path = assets.weights_path(weights, stem, definition.meta.type)
    return {
        "definition": definition_json,
        "weights": await assets.read_json(weights_path),
        "params": parse_params(params or []),
        "pinned_keys": merge_pins(alpha_pins, pins or [], keycodes, reference),
        "corpus_name": corpus_name,
        "cost_matrix": assets.cost_matrix(cost_matrix, stem),
    }
