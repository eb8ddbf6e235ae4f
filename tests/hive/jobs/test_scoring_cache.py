"""The scorer cache's bound: entries and bytes of tables, least recently used out first."""

from __future__ import annotations

import json

from keyforge_hive.jobs.scoring_cache import _Lru
from keyforge_shared import formats
from keyforge_shared.job_scorer import build_job_scorer, job_inputs
from keyforge_shared.scoring import load_corpus
from tests.hive.conftest import SYSTEM_ASSETS
from tests.hive.jobs_support import job_spec


def test_entries_and_bytes_are_both_bounded_and_use_keeps_an_entry() -> None:
    lru = _Lru(limit=3, budget=100, weigh=int)
    for key, size in (("a", 10), ("b", 10), ("c", 10)):
        lru.put(key, size)
    assert lru.take("a") == 10  # now the most recently used
    lru.put("d", 10)
    assert list(lru) == ["c", "a", "d"]
    lru.put("e", 85)
    assert list(lru) == ["d", "e"]
    assert lru.weight == 95
    lru.put("huge", 500)  # the newest stays even when it alone is over budget
    assert list(lru) == ["huge"]
    assert lru.weight == 500


def test_a_scorer_knows_the_memory_its_tables_take() -> None:
    spec = job_spec()
    keycodes = formats.parse_keycodes((SYSTEM_ASSETS / "keycodes.json").read_bytes())
    matrix = formats.parse_cost_matrix((SYSTEM_ASSETS / "cost_matrix.csv").read_bytes())
    folder = SYSTEM_ASSETS / "corpora" / "default"
    corpus = load_corpus(*((folder / f"{n}grams.csv").read_bytes() for n in (1, 2, 3)))
    scorer = build_job_scorer(
        job_inputs(json.loads(json.dumps(spec))), corpus, matrix, keycodes, {}
    )
    dense = scorer.model.costs.dense
    assert dense is not None
    assert dense.nbytes < scorer.size_bytes < 8 * 1024 * 1024
