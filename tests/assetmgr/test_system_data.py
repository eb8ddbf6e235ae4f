"""The project's own data/system: valid by kind, in sync with its generators, and
compatible with the original KeyForge files (``../shared/keyforge-data``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from keyforge_assetmgr.disk import list_asset_files
from keyforge_assetmgr.kinds import Kind, kind_of, validate
from keyforge_shared.formats import (
    FormatError,
    parse_cost_matrix,
    parse_definition,
    parse_keycodes,
    parse_layout,
    parse_ngrams,
)
from keyforge_shared.job_scorer import job_asset_paths
from tools.make_system_data import system_files

REPO = Path(__file__).resolve().parents[2]
SYSTEM = REPO / "data" / "system"
ORIGINAL = REPO.parent / "shared" / "keyforge-data"


def original_data() -> Path:
    if not ORIGINAL.is_dir():
        pytest.skip("the original KeyForge data is not beside this checkout")
    return ORIGINAL


def test_every_system_file_passes_its_kind_check() -> None:
    files = list_asset_files(SYSTEM)
    kinds = {kind_of(rel) for rel in files}
    assert kinds >= {Kind.KEYCODES, Kind.KEYBOARD, Kind.WEIGHTS, Kind.NGRAMS, Kind.COST_MATRIX}
    for rel in files:
        validate(kind_of(rel), rel, (SYSTEM / rel).read_bytes())


def test_authored_files_match_their_generator() -> None:
    for rel, text in system_files().items():
        assert (SYSTEM / rel).read_text(encoding="utf-8") == text, f"rerun make_system_data: {rel}"


def test_a_default_job_resolves_against_system_data() -> None:
    files = set(list_asset_files(SYSTEM))
    assert set(job_asset_paths("default", "cost_matrix.csv")) <= files


def test_keyboards_start_with_qwerty_and_every_layout_parses() -> None:
    table = parse_keycodes((SYSTEM / "keycodes.json").read_bytes())
    boards = {p.stem: parse_definition(json.loads(p.read_text())) for p in
              (SYSTEM / "keyboards").glob("*.json")}  # fmt: skip
    assert {"ortho_30", "split_3x6_3", "ansi_alpha"} <= set(boards)
    assert len(boards["ortho_30"].geometry.keys) == 30
    assert len(boards["split_3x6_3"].geometry.keys) == 42
    for board in boards.values():
        name, reference = board.reference_layout()
        assert name == "Qwerty"
        assert len(board.layouts) >= 4
        size = len(board.geometry.keys)
        alphabet = sorted(parse_layout(reference, table, size))
        for name, layout in board.layouts.items():
            parsed = parse_layout(layout, table, size)
            # On 30 keys Dvorak keeps its quote and drops the slash, as it does in life.
            if name != "Dvorak" or board is boards["split_3x6_3"]:
                assert sorted(parsed) == alphabet, name


def test_corpus_counts_english_text() -> None:
    unigrams = parse_ngrams((SYSTEM / "corpora/default/1grams.csv").read_bytes(), 1)
    bigrams = parse_ngrams((SYSTEM / "corpora/default/2grams.csv").read_bytes(), 2)
    trigrams = parse_ngrams((SYSTEM / "corpora/default/3grams.csv").read_bytes(), 3)
    letters = sorted((c for c in unigrams if c.isalpha()), key=lambda c: -unigrams[c])
    assert letters[:2] == ["e", "t"]
    assert {".", ",", "'", " "} <= set(unigrams)
    assert max(bigrams, key=lambda g: bigrams[g] if g.isalpha() else 0) == "th"
    assert "the" in sorted(trigrams, key=lambda g: -trigrams[g])[:3]


def test_original_layouts_parse_with_our_keycodes() -> None:
    table = parse_keycodes((SYSTEM / "keycodes.json").read_bytes())
    checked = 0
    for path in sorted((original_data() / "keyboards").glob("*.json")):
        board = parse_definition(json.loads(path.read_text()))
        size = len(board.geometry.keys)
        for layout in board.layouts.values():
            if len(layout.split()) != size:
                continue  # the original's own mistake (corne's Maltron has 41 of 42)
            parse_layout(layout, table, size)
            checked += 1
    assert checked > 50


def test_original_files_pass_the_kind_checks() -> None:
    root = original_data()
    for rel in list_asset_files(root):
        if rel.endswith("README.md"):
            continue
        validate(kind_of(rel), rel, (root / rel).read_bytes())


def test_original_cost_matrix_keys_exist_on_our_ansi_board() -> None:
    ours = {k.id for k in parse_definition(
        json.loads((SYSTEM / "keyboards/ansi_alpha.json").read_text())).geometry.keys}  # fmt: skip
    theirs = parse_cost_matrix((original_data() / "cost_matrix.csv").read_bytes())
    assert {e.from_key for e in theirs} == ours


def test_kind_checks_refuse_broken_files() -> None:
    cases = {
        "keycodes.json": b'[{"code": 1}]',
        "keyboards/x.json": b'{"geometry": {"keys": []}, "layouts": {}}',
        "weights/x.json": b'{"penalty": NaN}',
        "corpora/default/2grams.csv": b"char1,char2,freq\na,b,many\n",
        "cost_matrix.csv": b"From_Key,To_Key,Cost_MS\n",
    }
    for rel, data in cases.items():
        with pytest.raises(FormatError):
            validate(kind_of(rel), rel, data)
    with pytest.raises(FormatError):
        validate(Kind.WEIGHTS, "weights/x.json", b'{"w": 1e999}')
    with pytest.raises(FormatError):
        validate(Kind.WEIGHTS, "weights/x.json", b'{"w": [1]}')
