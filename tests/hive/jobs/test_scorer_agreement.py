"""The hive and the node build a job's scorer through one module: they accept, refuse and score
identically, on every system keyboard and on the original's, with and without pins."""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path
from typing import Any

import httpx
import pytest

from keyforge_node.job_model import ModelRecipe, build_job_model
from keyforge_shared.formats import FormatError, parse_keycodes
from keyforge_shared.job_scorer import JobScorer, spec_asset_paths
from tests.hive.conftest import ADMIN_HEADERS, ORIGINAL_DATA, SYSTEM_ASSETS, HivePair
from tests.hive.jobs_support import job_spec, post_result, read_json, ready_node

NODE = "agreement-node"


def node_scorer(root: Path, spec: dict[str, Any]) -> JobScorer | FormatError:
    """The node's entry point: a recipe of verified files, built as a worker process does."""
    try:
        paths = spec_asset_paths(spec)
    except FormatError as exc:
        return exc
    files = []
    for path in paths:
        file = root / path
        files.append((path, file, hashlib.sha256(file.read_bytes()).hexdigest()))
    try:
        return build_job_model(ModelRecipe.of(spec, files))
    except FormatError as exc:
        return exc


def pin_variants(root: Path, definition: dict[str, Any]) -> dict[str, str]:
    """No pins, pins that hold or move keys, and pins both sides must refuse."""
    reference = next(iter(definition["layouts"].values())).split()
    last = len(reference) - 1
    keycodes = parse_keycodes((root / "keycodes.json").read_bytes())
    stranger = next(name for name in sorted(keycodes.by_name) if name not in reference)
    return {
        "none": "",
        "keycodes": f"0:{reference[0]},{last}:{reference[last]}",
        "swapped": f"0:{reference[1]},1:{reference[0]}",  # legal: a pin need not be in place
        "outside the alphabet": f"0:{stranger}",
        "unknown keycode": "0:KC_NOT_A_KEY",
        "slot out of range": f"{last + 1}:{reference[0]}",
        "not a pair": "0-KC_A",
    }


def candidate_layouts(scorer: JobScorer, rng: random.Random) -> list[list[str]]:
    reference = scorer.with_pins(scorer.reference)
    layouts = [reference]
    for _ in range(3):
        layout = list(reference)
        free = list(scorer.free_slots)
        shuffled = [layout[s] for s in free]
        rng.shuffle(shuffled)
        for slot, keycode in zip(free, shuffled, strict=True):
            layout[slot] = keycode
        layouts.append(layout)
    broken = list(reference)
    broken[0], broken[-1] = broken[-1], broken[0]  # breaks a pin when slot 0 or the last is pinned
    layouts.append(broken)
    layouts.append([*reference[:-1], reference[0]])  # not a permutation (unless all keys are one)
    return layouts


async def check_agreement(hive: httpx.AsyncClient, root: Path) -> int:
    await ready_node(hive, NODE)
    rng = random.Random(5)
    compared = 0
    for board in sorted((root / "keyboards").glob("*.json")):
        definition = read_json(board)
        for variant, pins in pin_variants(root, definition).items():
            spec = job_spec(definition, {}, pinned_keys=pins)
            node = node_scorer(root, spec)
            created = await hive.post("/jobs", json=spec, headers=ADMIN_HEADERS)
            where = (board.name, variant)
            if isinstance(node, FormatError):
                assert created.status_code == 422, (*where, str(node), created.text)
                continue
            assert created.status_code == 200, (*where, created.text)
            job_id = created.json()["job_id"]
            for layout in candidate_layouts(node, rng):
                text = " ".join(layout)
                claim = node.model.score(layout) if node.accepts(text) else 1.0
                answer = await post_result(hive, job_id=job_id, layout=text, score=claim)
                if node.accepts(text):
                    assert answer.status_code == 200, (*where, answer.text)
                    assert answer.json()["score"] == claim  # the very same float
                else:
                    assert answer.status_code == 422, (*where, text, answer.text)
                compared += 1
    return compared


async def test_hive_and_node_agree_on_the_system_keyboards(
    hives: HivePair, system_assets: set[str]
) -> None:
    assert await check_agreement(hives.a, SYSTEM_ASSETS) >= 3 * 3 * 6


async def test_hive_and_node_agree_on_the_original_keyboards(
    hives: HivePair, original_assets: set[str]
) -> None:
    if not (ORIGINAL_DATA / "keyboards").is_dir():
        pytest.skip("the original KeyForge data is not beside this checkout")
    # ansi_104 uses keycodes the original keycodes.json lacks: both sides refuse it.
    assert await check_agreement(hives.b, ORIGINAL_DATA) >= 3 * 3 * 6


def test_a_spec_is_read_with_one_set_of_defaults() -> None:
    spec = job_spec()
    del spec["cost_matrix"]
    assert spec_asset_paths(spec)[3] == "cost_matrix.csv"
    with pytest.raises(FormatError):
        spec_asset_paths({**spec, "cost_matrix": ""})  # present but empty: refused on both sides
    assert json.loads(json.dumps(spec)) == spec
