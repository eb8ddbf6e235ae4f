"""A job's scoring model, alphabet and pins: what the hive verifies with, the node searches with.

Both sides build it here, from the job's spec and the exact asset bytes the
manifest names (by sha256), so a node scores with the very model the hive
recomputes its claims with: same defaults, same checks, same floats. The
hive parses the shared assets once and caches them (:func:`build_job_scorer`);
the node hands over the bytes it verified (:func:`build_job_scorer_from_bytes`).
Building parses and compiles the model (tens of milliseconds): run it off
the event loop.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from keyforge_shared.asset_paths import is_safe_asset_path
from keyforge_shared.formats import (
    CostEntry,
    FormatError,
    KeyboardDefinition,
    KeycodeTable,
    parse_cost_matrix,
    parse_definition,
    parse_keycodes,
    parse_layout,
    parse_pinned_keys,
)
from keyforge_shared.protocol.jobs import DEFAULT_COST_MATRIX
from keyforge_shared.scoring import Corpus, ScoringModel, Weights, build_model, parse_weights
from keyforge_shared.scoring.corpus import load_corpus

KEYCODES_PATH = "keycodes.json"


def corpus_paths(name: str) -> tuple[str, str, str]:
    """``corpora/<name>/{1,2,3}grams.csv``; FormatError for a name that is not one segment."""
    paths = tuple(f"corpora/{name}/{n}grams.csv" for n in (1, 2, 3))
    if "/" in name or not all(is_safe_asset_path(p) for p in paths):
        raise FormatError(f"corpus name {name!r} is not a plain directory name")
    return paths[0], paths[1], paths[2]


def cost_matrix_path(name: str) -> str:
    if "/" in name or not is_safe_asset_path(name) or not name.endswith(".csv"):
        raise FormatError(f"cost matrix {name!r} is not a top-level .csv asset")
    return name


def job_asset_paths(corpus_name: str, cost_matrix: str = DEFAULT_COST_MATRIX) -> list[str]:
    """Every manifest path a job's scoring depends on."""
    return [*corpus_paths(corpus_name), cost_matrix_path(cost_matrix), KEYCODES_PATH]


def spec_asset_paths(spec: Mapping[str, Any]) -> list[str]:
    """The asset paths a spec names, defaults applied: a missing ``cost_matrix`` is the default
    one; a present one must name an asset (FormatError otherwise, as for the corpus name)."""
    return job_asset_paths(
        str(spec.get("corpus_name", "")), str(spec.get("cost_matrix", DEFAULT_COST_MATRIX))
    )


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
    """The one reading of a spec's scoring fields; FormatError for what does not parse."""
    definition = parse_definition(spec.get("definition"))
    definition.reference_layout()  # a job needs one: it defines the alphabet
    paths = spec_asset_paths(spec)
    return JobInputs(
        definition=definition,
        weights=parse_weights(spec.get("weights")),
        pinned_keys=str(spec.get("pinned_keys", "")),
        corpus_paths=(paths[0], paths[1], paths[2]),
        cost_matrix_path=paths[3],
    )


@dataclass(frozen=True)
class JobScorer:
    model: ScoringModel
    keycodes: KeycodeTable
    reference: tuple[str, ...]  # the reference layout, canonical keycode ids
    alphabet: Counter[str]
    pinned: Mapping[int, str]
    free_slots: tuple[int, ...]  # the slots a swap may touch: not pinned
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

    def valid_layout(self, text: str) -> list[str] | None:
        """``text`` as canonical keycodes if it is a valid result for this job, else None."""
        try:
            return self.result_layout(text)
        except FormatError:
            return None

    def accepts(self, text: str) -> bool:
        return self.valid_layout(text) is not None

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


def build_job_scorer(
    inputs: JobInputs,
    corpus: Corpus,
    cost_matrix: list[CostEntry],
    keycodes: KeycodeTable,
    assets: Mapping[str, str],
) -> JobScorer:
    """From parsed assets (the hive parses each shared asset once). CPU-bound: a worker thread."""
    n_keys = len(inputs.definition.geometry.keys)
    _, reference_text = inputs.definition.reference_layout()
    reference = parse_layout(reference_text, keycodes, n_keys)
    pinned = parse_pinned_keys(inputs.pinned_keys, keycodes, n_keys)
    alphabet = Counter(reference)
    short = Counter(pinned.values()) - alphabet
    if short:
        raise FormatError(f"pinned keycodes {sorted(short)} are not in the reference layout")
    model = build_model(inputs.definition, inputs.weights, corpus, keycodes, cost_matrix)
    free = tuple(slot for slot in range(n_keys) if slot not in pinned)
    return JobScorer(
        model=model,
        keycodes=keycodes,
        reference=tuple(reference),
        alphabet=alphabet,
        pinned=pinned,
        free_slots=free,
        assets=dict(assets),
        size_bytes=table_bytes(model),
    )


def build_job_scorer_from_bytes(
    inputs: JobInputs, blobs: Mapping[str, bytes], assets: Mapping[str, str]
) -> JobScorer:
    """From the raw bytes of ``inputs.asset_paths`` (already verified against their sha256)."""
    one, two, three = (blobs[path] for path in inputs.corpus_paths)
    return build_job_scorer(
        inputs,
        load_corpus(one, two, three),
        parse_cost_matrix(blobs[inputs.cost_matrix_path]),
        parse_keycodes(blobs[KEYCODES_PATH]),
        assets,
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
