"""The scoring model of a job: everything that decides its scores, hashed into ``model_id``.

Two jobs share a leaderboard only when their scores are comparable: same
geometry, same alphabet, same weights once defaults are filled in, and the
very same corpus and cost matrix bytes. The asset hashes are the ones the
manifest served when the job was created, stored with the job, so an edited
corpus published later starts a new board instead of mixing old and new
scores. Search params and pins are not part of it: they change how a layout
is found, not what it scores.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from keyforge_shared.job_scorer import JobInputs, JobScorer


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _canonical(value: Any) -> bytes:
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def scoring_model(
    inputs: JobInputs, scorer: JobScorer, assets: Mapping[str, str], corpus_name: str
) -> dict[str, Any]:
    """The job's model summary with its ``model_id`` (what ``jobs.model`` stores)."""
    weights_sha = _sha256(_canonical(inputs.weights.model_dump(mode="json")))
    # The three n-gram files in order: one hash names the corpus as a whole.
    corpus_sha = _sha256(",".join(assets[p] for p in inputs.corpus_paths).encode())
    matrix_sha = assets[inputs.cost_matrix_path]
    decides = {
        "geometry": inputs.definition.geometry.model_dump(mode="json"),
        "alphabet": sorted(scorer.reference),
        "weights_sha256": weights_sha,
        "corpus_sha256": corpus_sha,
        "cost_matrix_sha256": matrix_sha,
    }
    return {
        "model_id": _sha256(_canonical(decides)),
        "keyboard_name": inputs.definition.meta.name,
        "key_count": scorer.key_count,
        "weights_sha256": weights_sha,
        "corpus": corpus_name,
        "corpus_sha256": corpus_sha,
        "cost_matrix_sha256": matrix_sha,
    }
