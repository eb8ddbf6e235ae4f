"""What kind of asset a path holds, and the check each kind must pass before it is served.

Kinds follow the layout of the original ``data/system``: ``keycodes.json``,
``keyboards/*.json`` (definitions), ``weights/*.json``,
``corpora/<name>/{1,2,3}grams.csv`` and top-level ``*.csv`` cost matrices.
Anything else is served as it is, within the size limit.
"""

from __future__ import annotations

import json
import math
import mimetypes
from enum import Enum
from typing import Any

from keyforge_shared.formats import (
    FormatError,
    parse_cost_matrix,
    parse_definition,
    parse_keycodes,
    parse_ngrams,
)

# Weights are a flat object of numbers and short strings in the original; a
# pydantic model for their meaning lives with the scorer, this is the shape check.
MAX_WEIGHT_FIELDS = 500
MAX_WEIGHT_NAME = 64
MAX_WEIGHT_TEXT = 1000
_NGRAM_FILES = {"1grams.csv": 1, "2grams.csv": 2, "3grams.csv": 3}
_CONTENT_TYPES = {
    ".json": "application/json",
    ".csv": "text/csv; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
}


class Kind(Enum):
    KEYCODES = "keycodes"
    KEYBOARD = "keyboard"
    WEIGHTS = "weights"
    NGRAMS = "ngrams"
    COST_MATRIX = "cost_matrix"
    OTHER = "other"

    @property
    def is_json(self) -> bool:
        return self in (Kind.KEYCODES, Kind.KEYBOARD, Kind.WEIGHTS)


def kind_of(path: str) -> Kind:
    parts = path.split("/")
    name = parts[-1]
    if path == "keycodes.json":
        return Kind.KEYCODES
    if len(parts) == 2 and parts[0] == "keyboards" and name.endswith(".json"):
        return Kind.KEYBOARD
    if len(parts) == 2 and parts[0] == "weights" and name.endswith(".json"):
        return Kind.WEIGHTS
    if len(parts) == 3 and parts[0] == "corpora" and name in _NGRAM_FILES:
        return Kind.NGRAMS
    if len(parts) == 1 and name.endswith(".csv"):
        return Kind.COST_MATRIX
    return Kind.OTHER


def content_type_of(path: str) -> str:
    suffix = path[path.rfind(".") :].lower() if "." in path else ""
    if suffix in _CONTENT_TYPES:
        return _CONTENT_TYPES[suffix]
    guessed, _ = mimetypes.guess_type(path, strict=True)
    return guessed or "application/octet-stream"


def _load_json(data: bytes) -> Any:
    try:
        return json.loads(data.decode("utf-8"), parse_constant=_refuse_constant)
    except UnicodeDecodeError:
        raise FormatError("not UTF-8") from None
    except json.JSONDecodeError as exc:
        raise FormatError(f"invalid JSON at line {exc.lineno} column {exc.colno}") from None
    except RecursionError:
        raise FormatError("JSON nested too deeply") from None


def _refuse_constant(name: str) -> Any:
    raise FormatError(f"{name} is not a finite number")


def check_weights(data: Any) -> None:
    if not isinstance(data, dict):
        raise FormatError("weights must be a JSON object")
    if len(data) > MAX_WEIGHT_FIELDS:
        raise FormatError(f"weights has more than {MAX_WEIGHT_FIELDS} fields")
    for name, value in data.items():
        if not name or len(name) > MAX_WEIGHT_NAME:
            raise FormatError(f"weight name {name[:80]!r} is empty or too long")
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise FormatError(f"weight {name!r} must be a number or a string")
        if isinstance(value, float) and not math.isfinite(value):
            raise FormatError(f"weight {name!r} is not finite")
        if isinstance(value, str) and len(value) > MAX_WEIGHT_TEXT:
            raise FormatError(f"weight {name!r} is longer than {MAX_WEIGHT_TEXT} characters")


def validate(kind: Kind, path: str, data: bytes) -> None:
    """Raise FormatError, saying where, unless ``data`` is a valid ``kind`` file."""
    if kind is Kind.KEYCODES:
        _load_json(data)  # precise syntax errors before pydantic's
        parse_keycodes(data)
    elif kind is Kind.KEYBOARD:
        parse_definition(_load_json(data))
    elif kind is Kind.WEIGHTS:
        check_weights(_load_json(data))
    elif kind is Kind.NGRAMS:
        parse_ngrams(_decode(data), _NGRAM_FILES[path.rsplit("/", 1)[-1]])
    elif kind is Kind.COST_MATRIX:
        parse_cost_matrix(_decode(data))


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise FormatError("not UTF-8") from None
