"""What the hive needs to verify one job's layouts: its scoring model, alphabet and pins.

A ``JobScorer`` is built from the job's spec and the exact asset bytes the
manifest names (by sha256), so the hive scores with what the asset gateway
serves to nodes. Building parses the corpus and compiles the model (about
60-90 ms): callers run :func:`build_job_scorer` off the event loop.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from keyforge_shared.asset_inputs import DEFAULT_COST_MATRIX, KEYCODES_PATH, job_asset_paths
from keyforge_shared.formats import (
    CostEntry,
    FormatError,
    KeyboardDefinition,
    KeycodeTable,
    parse_definition,
    parse_layout,
    parse_pinned_keys,
)
from keyforge_shared.scoring import Corpus, ScoringModel, Weights, build_model, parse_weights


@dataclass(frozen=True)
class JobInputs:
    """The parts of a spec scoring depends on; a spec never changes, so neither do these."""

    definition: KeyboardDefinition
    weights: Weights
    pinned_keys: str
    corpus_paths: tuple[str, str, str]
    cost_matrix_path: str

    @property
    def asset_paths(self) -> tuple[str, ...]:
        return (*self.corpus_paths, self.cost_matrix_path, KEYCODES_PATH)


def job_inputs(spec: Mapping[str, Any]) -> JobInputs:
    """FormatError for a spec whose definition, weights or asset names do not parse."""
    definition = parse_definition(spec.get("definition"))
    definition.reference_layout()  # a job needs one: it defines the alphabet
    paths = job_asset_paths(
        str(spec.get("corpus_name", "")), str(spec.get("cost_matrix", DEFAULT_COST_MATRIX))
    )
    return JobInputs(
        definition=definition,
        weights=parse_weights(spec.get("weights")),
        pinned_keys=str(spec.get("pinned_keys", "")),
        corpus_paths=(paths[0], paths[1], paths[2]),
        cost_matrix_path=paths[3],
    )


def job_inputs_from_text(spec_text: str) -> JobInputs:
    return job_inputs(json.loads(spec_text))


@dataclass(frozen=True)
class JobScorer:
    model: ScoringModel
    keycodes: KeycodeTable
    reference: tuple[str, ...]  # the reference layout, canonical keycode ids
    alphabet: Counter[str]
    pinned: Mapping[int, str]
    assets: Mapping[str, str]  # path -> the sha256 this scorer was built from
    size_bytes: int  # its tables: about 1.5 MB for a 30-key board, 11 MB for 104 keys

    @property
    def key_count(self) -> int:
        return self.model.key_count

    def analysable_layout(self, text: str) -> list[str]:
        """One known keycode per key, any alphabet (``POST /score``); FormatError otherwise."""
        return parse_layout(text, self.keycodes, self.key_count)

    def result_layout(self, text: str) -> list[str]:
        """A layout valid for this job as the contract defines it; FormatError otherwise."""
        layout = self.analysable_layout(text)
        if Counter(layout) != self.alphabet:
            extra = sorted((Counter(layout) - self.alphabet).elements())[:5]
            missing = sorted((self.alphabet - Counter(layout)).elements())[:5]
            raise FormatError(
                f"layout is not a permutation of the job's keys (extra {extra}, missing {missing})"
            )
        for slot, keycode in sorted(self.pinned.items()):
            if layout[slot] != keycode:
                raise FormatError(f"slot {slot} is pinned to {keycode}, found {layout[slot]}")
        return layout

    def accepts(self, text: str) -> bool:
        try:
            self.result_layout(text)
        except FormatError:
            return False
        return True


def build_job_scorer(
    inputs: JobInputs,
    corpus: Corpus,
    cost_matrix: list[CostEntry],
    keycodes: KeycodeTable,
    assets: Mapping[str, str],
) -> JobScorer:
    """CPU-bound (tens of milliseconds): run it in a worker thread."""
    n_keys = len(inputs.definition.geometry.keys)
    _, reference_text = inputs.definition.reference_layout()
    reference = parse_layout(reference_text, keycodes, n_keys)
    pinned = parse_pinned_keys(inputs.pinned_keys, keycodes, n_keys)
    alphabet = Counter(reference)
    short = Counter(pinned.values()) - alphabet
    if short:
        raise FormatError(f"pinned keycodes {sorted(short)} are not in the reference layout")
    model = build_model(inputs.definition, inputs.weights, corpus, keycodes, cost_matrix)
    return JobScorer(
        model, keycodes, tuple(reference), alphabet, pinned, dict(assets), table_bytes(model)
    )


def table_bytes(value: object, seen: set[int] | None = None) -> int:
    """The numpy tables reachable from ``value`` (what a cached scorer costs in memory)."""
    seen = set() if seen is None else seen
    if id(value) in seen:
        return 0
    seen.add(id(value))
    if isinstance(value, np.ndarray):
        return int(value.nbytes)
    if isinstance(value, list | tuple):
        return sum(table_bytes(item, seen) for item in value)
    if hasattr(value, "__dict__"):
        return sum(table_bytes(item, seen) for item in vars(value).values())
    return 0
