"""The recipe a worker process builds a job's scorer from: the job's spec plus verified files.

A ``ModelRecipe`` is what crosses into worker processes: the spec's scoring
fields plus the cached asset files and their hashes. Each process builds the
scorer from it once (``build_job_model``), re-checking every file's SHA-256 as
it reads it, so bytes that changed on disk since they were verified are
refused rather than scored with. The scorer itself is the shared
:class:`~keyforge_shared.job_scorer.JobScorer`, the very one the hive verifies
results with: same spec reading, same defaults, same checks, same floats.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from keyforge_node.asset_cache import verified
from keyforge_shared.job_scorer import JobScorer, build_job_scorer_from_bytes, job_inputs

# The spec fields a job's scoring depends on (the rest, params, only steer the search).
SCORING_FIELDS = ("definition", "weights", "pinned_keys", "corpus_name", "cost_matrix")


def _scoring_spec(config: Mapping[str, Any]) -> dict[str, Any]:
    return {name: config[name] for name in SCORING_FIELDS if name in config}


@dataclass(frozen=True)
class ModelRecipe:
    key: str  # equal recipes, equal scorers: the worker processes cache by it
    spec: dict[str, Any]  # the scoring fields of the job's spec, as the hive stored them
    files: tuple[tuple[str, str, str], ...]  # (manifest path, cached file, sha256), in path order

    @classmethod
    def of(cls, config: Mapping[str, Any], files: Sequence[tuple[str, Path, str]]) -> ModelRecipe:
        entries = tuple((path, str(file), sha) for path, file, sha in files)
        spec = _scoring_spec(config)
        identity = json.dumps([spec, [sha for _, _, sha in entries]], sort_keys=True)
        return cls(hashlib.sha256(identity.encode()).hexdigest(), spec, entries)


def build_job_model(recipe: ModelRecipe) -> JobScorer:
    """CPU-bound, about 0.1 s. AssetRefused if a file no longer has its hash; FormatError for a
    spec or asset the shared scorer refuses (exactly what the hive would refuse)."""
    blobs = {
        path: verified(Path(file).read_bytes(), path=path, sha256=sha, source=f"the cache ({file})")
        for path, file, sha in recipe.files
    }
    shas = {path: sha for path, _, sha in recipe.files}
    return build_job_scorer_from_bytes(job_inputs(recipe.spec), blobs, shas)
