"""One job as the optimiser sees it: its scoring model, alphabet, pins and free slots.

A ``ModelRecipe`` is what crosses into worker processes: the job's
definition and weights plus the cached asset files and their hashes. Each
process builds the model from it once (``build_job_model``), re-checking
every file's SHA-256 as it reads it, so bytes that changed on disk since
they were verified are refused rather than scored with. The result is the
very model the hive verifies with: same bytes, same spec, same floats.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from keyforge_node.asset_cache import verified
from keyforge_shared.asset_inputs import DEFAULT_COST_MATRIX, job_asset_paths
from keyforge_shared.formats import (
    FormatError,
    KeycodeTable,
    parse_cost_matrix,
    parse_definition,
    parse_keycodes,
    parse_layout,
    parse_pinned_keys,
)
from keyforge_shared.scoring import ScoringModel, build_model, load_corpus, parse_weights


def asset_paths_of(config: Mapping[str, Any]) -> list[str]:
    """The manifest paths a job scores with: three corpus files, the cost matrix, keycodes."""
    return job_asset_paths(
        str(config.get("corpus_name", "")), str(config.get("cost_matrix") or DEFAULT_COST_MATRIX)
    )


@dataclass(frozen=True)
class ModelRecipe:
    key: str  # equal recipes, equal models: the worker processes cache by it
    definition: dict[str, Any]
    weights: dict[str, Any]
    pinned_keys: str
    files: tuple[tuple[str, str, str], ...]  # (manifest path, cached file, sha256), in path order

    @classmethod
    def of(cls, config: Mapping[str, Any], files: Sequence[tuple[str, Path, str]]) -> ModelRecipe:
        entries = tuple((path, str(file), sha) for path, file, sha in files)
        identity = json.dumps(
            [config["definition"], config.get("weights") or {}, config.get("pinned_keys") or ""]
            + [sha for _, _, sha in entries],
            sort_keys=True,
        )
        return cls(
            key=hashlib.sha256(identity.encode()).hexdigest(),
            definition=dict(config["definition"]),
            weights=dict(config.get("weights") or {}),
            pinned_keys=str(config.get("pinned_keys") or ""),
            files=entries,
        )


@dataclass(frozen=True)
class JobModel:
    model: ScoringModel
    keycodes: KeycodeTable
    reference: list[str]
    pinned: dict[int, str]
    alphabet: Counter[str]
    free_slots: list[int]  # the slots a swap may touch: not pinned

    def with_pins(self, layout: Sequence[str]) -> list[str]:
        """``layout`` with every pinned keycode moved into its slot by swaps (same multiset)."""
        fixed = list(layout)
        for slot, keycode in sorted(self.pinned.items()):
            if fixed[slot] == keycode:
                continue
            donor = next(
                s for s, k in enumerate(fixed) if k == keycode and self.pinned.get(s) != keycode
            )
            fixed[slot], fixed[donor] = fixed[donor], fixed[slot]
        return fixed

    def valid_layout(self, text: str) -> list[str] | None:
        """``text`` as canonical keycodes if it is a valid result for this job, else None."""
        try:
            layout = parse_layout(text, self.keycodes, self.model.key_count)
        except FormatError:
            return None
        if Counter(layout) != self.alphabet:
            return None
        if any(layout[slot] != keycode for slot, keycode in self.pinned.items()):
            return None
        return layout


def build_job_model(recipe: ModelRecipe) -> JobModel:
    """CPU-bound, about 0.1 s. AssetRefused if a file no longer has its hash."""
    blobs = [
        verified(Path(file).read_bytes(), path=path, sha256=sha, source=f"the cache ({file})")
        for path, file, sha in recipe.files
    ]
    one, two, three, matrix, keycodes_raw = blobs
    keycodes = parse_keycodes(keycodes_raw)
    definition = parse_definition(recipe.definition)
    n_keys = len(definition.geometry.keys)
    reference = parse_layout(definition.reference_layout()[1], keycodes, n_keys)
    pinned = parse_pinned_keys(recipe.pinned_keys, keycodes, n_keys)
    model = build_model(
        definition,
        parse_weights(recipe.weights),
        load_corpus(one, two, three),
        keycodes,
        parse_cost_matrix(matrix),
    )
    free = [slot for slot in range(n_keys) if slot not in pinned]
    return JobModel(model, keycodes, reference, pinned, Counter(reference), free)
