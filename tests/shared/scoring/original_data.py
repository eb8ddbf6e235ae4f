"""The original KeyForge data (``../shared/keyforge-data``), loaded once per test session."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from keyforge_shared import formats
from keyforge_shared.formats import CostEntry, KeyboardDefinition, KeycodeTable
from keyforge_shared.scoring import Corpus, ScoringModel, build_model, load_corpus

DATA = Path(__file__).resolve().parents[3] / ".." / "shared" / "keyforge-data"


def require_data() -> Path:
    if not DATA.is_dir():
        pytest.skip(f"original KeyForge data not found at {DATA.resolve()} (CI puts it there)")
    return DATA


@cache
def keycodes() -> KeycodeTable:
    return formats.parse_keycodes((require_data() / "keycodes.json").read_bytes())


@cache
def corpus() -> Corpus:
    folder = require_data() / "corpora" / "default"
    return load_corpus(*((folder / f"{n}grams.csv").read_bytes() for n in (1, 2, 3)))


@cache
def cost_matrix() -> list[CostEntry]:
    return formats.parse_cost_matrix((require_data() / "cost_matrix.csv").read_bytes())


@cache
def keyboard(name: str) -> KeyboardDefinition:
    text = (require_data() / "keyboards" / f"{name}.json").read_text()
    return formats.parse_definition(json.loads(text))


def weights_files() -> list[str]:
    if not DATA.is_dir():
        return ["ortho_split"]  # the tests using it skip with the message above
    return sorted(p.stem for p in (DATA / "weights").glob("*.json"))


@cache
def weights(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((require_data() / "weights" / f"{name}.json").read_text())
    return data


@cache
def model(board: str, weights_name: str = "ortho_split") -> ScoringModel:
    return build_model(keyboard(board), weights(weights_name), corpus(), keycodes(), cost_matrix())


def layout(board: str, name: str) -> list[str]:
    definition = keyboard(board)
    return formats.parse_layout(definition.layouts[name], keycodes(), len(definition.geometry.keys))
