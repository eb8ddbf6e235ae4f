"""The compiled engine: its deltas equal full rescoring, its batches submit exact scores, and
the Python fallback (forced with ``KEYFORGE_ENGINE=python``) scores the same.

The kernels compile once per session (numba caches them on disk), so the
whole module stays within seconds after the first run.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from keyforge_node import engine
from keyforge_node.annealing import Chain, Schedule
from keyforge_node.job_model import ModelRecipe, build_job_model
from keyforge_shared import formats
from keyforge_shared.job_scorer import JobScorer, spec_asset_paths
from keyforge_shared.scoring import ScoringModel, build_model

from ..shared.scoring import original_data

SYSTEM = Path(__file__).resolve().parents[2] / "data" / "system"
SWAPS = 200
SEQUENCES = 3

pytestmark = pytest.mark.skipif(not engine.compiled_available(), reason="numba unavailable")


@cache
def system_job(board: str, pinned_keys: str = "") -> JobScorer:
    config: dict[str, Any] = {
        "definition": json.loads((SYSTEM / "keyboards" / f"{board}.json").read_text()),
        "weights": {},
        "corpus_name": "default",
        "pinned_keys": pinned_keys,
    }
    files = [
        (p, SYSTEM / p, hashlib.sha256((SYSTEM / p).read_bytes()).hexdigest())
        for p in spec_asset_paths(config)
    ]
    return build_job_model(ModelRecipe.of(config, files))


def system_model(board: str) -> tuple[ScoringModel, list[str]]:
    job = system_job(board)
    return job.model, list(job.reference)


def original_model(board: str) -> tuple[ScoringModel, list[str]]:
    definition = original_data.keyboard(board)
    keycodes = original_data.keycodes()
    names = definition.layouts["Qwerty"].split()
    # ansi_104's numpad and lock keys are not in keycodes.json: they type nothing here.
    layout = [keycodes.canonical(name) or "KC_NO" for name in names]
    scorer = build_model(
        definition,
        original_data.weights("testing"),
        original_data.corpus(),
        keycodes,
        original_data.cost_matrix(),
    )
    return scorer, layout


def shared_variant(layout: list[str]) -> list[str]:
    """The layout with a second E key: a character typed from two slots."""
    twin = list(layout)
    twin[next(s for s, k in enumerate(twin) if k not in ("KC_E", "KC_NO", "KC_TRNS"))] = "KC_E"
    return twin


BOARDS = [
    *(("system", b) for b in ("ortho_30", "split_3x6_3", "ansi_alpha")),
    *(("original", b) for b in ("ortho_30", "corne", "szr35", "ansi_104")),
]


@pytest.mark.parametrize("shared", [False, True], ids=["distinct", "shared"])
@pytest.mark.parametrize(("source", "board"), BOARDS, ids=[f"{s}-{b}" for s, b in BOARDS])
def test_compiled_deltas_equal_full_rescoring(source: str, board: str, shared: bool) -> None:
    from keyforge_node.engine import kernels, tables

    scorer, reference = system_model(board) if source == "system" else original_model(board)
    if shared:
        reference = shared_variant(reference)
    compiled = tables.kernel_tables(scorer, reference)
    assert compiled is not None
    rng = random.Random(f"{source}/{board}/{shared}")
    count = len(reference)
    for _ in range(SEQUENCES):
        start = list(reference)
        rng.shuffle(start)
        reps = tables.Replicas.of(scorer, [start])
        state = scorer.state(start)
        before = scorer.score_state(state)
        # One kernel call prices and applies the whole sequence, so the flow aggregates it
        # keeps are updated swap after swap, never rebuilt.
        pairs = np.array(
            [(rng.randrange(count), rng.randrange(count)) for _ in range(SWAPS)], dtype=np.int64
        )
        where, chars, perm, load = reps.where[0], reps.chars[0], reps.perm[0], reps.load[0]
        deltas = kernels.price_swaps(compiled, where, chars, perm, load, pairs, True)
        for (i, j), delta in zip(pairs.tolist(), deltas, strict=True):
            scorer.apply_swap(state, i, j)
            after = scorer.score_state(state)
            assert abs(delta - (after - before)) <= 1e-9 * max(1.0, abs(before)), (i, j)
            before = after
        # The compiled state is the layout's own state after the sequence.
        assert reps.layout(reps.perm[0]) == state.layout()
        assert (reps.where[0] == state.slots).all()
        assert list(reps.chars[0]) == state.chars
        assert (int(reps.load[0][0]), int(reps.load[0][1])) == (state.left, state.right)


def test_a_tempering_batch_keeps_pins_and_reports_exact_scores() -> None:
    job = system_job("ortho_30", "0:KC_E,10:a,29:KC_Z")
    seed = job.with_pins(job.reference)
    schedule = Schedule.from_params({"search_steps": 20_000, "opt_limit_fast": 2})
    chain, ops = engine.run_batch(job, Chain(seed, seed=1), schedule, 200_000)
    assert ops > 150_000
    assert len(chain.replicas) >= 4
    assert chain.best_score < job.model.score(seed) * 0.9
    assert chain.best_score == job.model.score(chain.best_layout)  # what the hive recomputes
    assert chain.replica_scores == [job.model.score(r) for r in chain.replicas]
    for layout in (chain.best_layout, *chain.replicas):
        assert job.valid_layout(" ".join(layout)) == layout
    assert all(sorted(r) == sorted(seed) for r in chain.replicas)  # swaps keep the alphabet


def test_a_chain_s_next_batch_starts_from_the_state_its_last_one_kept() -> None:
    from keyforge_node.engine import kernels, tempering
    from keyforge_node.engine.tables import Replicas

    job = system_job("ortho_30")
    schedule = Schedule.from_params({"search_steps": 20_000})
    chain, _ = engine.run_batch(job, Chain(list(job.reference), seed=3), schedule, 50_000)
    tables = tempering.tables_for(job)
    assert tables is not None
    kept = tempering._kept_for(chain, tables, len(chain.replicas))
    assert kept is not None
    # the kept states are the chain's layouts, and their aggregates what a fresh sum gives
    fresh = Replicas.of(job.model, chain.replicas)
    assert (kept.reps.where == fresh.where).all()
    assert (kept.reps.load == fresh.load).all()
    assert kept.reps.layouts() == chain.replicas
    placed = len(tables[1])  # G's columns past the characters are padding (and flags)
    cls, g, d = kernels.flow_state(tables, fresh.where)
    assert (kept.flow[0] == cls).all()
    assert np.allclose(kept.flow[1][..., :placed], g[..., :placed], rtol=0, atol=1e-9)
    assert np.allclose(kept.flow[2], d, rtol=0, atol=1e-9)
    chain, _ = engine.run_batch(job, chain, schedule, 400_000)  # across an epoch's end
    assert chain.epoch >= 1
    assert chain.replica_scores == [job.model.score(r) for r in chain.replicas]
    assert chain.best_score == job.model.score(chain.best_layout)
    # a chain whose replicas changed outside the engine is built afresh
    chain.replicas = [list(reversed(r)) for r in chain.replicas]
    chain.replica_scores = [job.model.score(r) for r in chain.replicas]
    assert tempering._kept_for(chain, tables, len(chain.replicas)) is None
    chain, _ = engine.run_batch(job, chain, schedule, 20_000)
    assert chain.replica_scores == [job.model.score(r) for r in chain.replicas]


def test_the_ladder_spans_the_jobs_temperatures() -> None:
    from keyforge_node.engine.tempering import ladder

    temps = ladder(0.5, 50.0)
    assert temps[0] == pytest.approx(0.5)
    assert temps[-1] == pytest.approx(50.0)
    assert (np.diff(temps) > 0).all()
    job = system_job("ortho_30")
    exhausted = Schedule.from_params({"search_epochs": 1, "temp_min": 0.5, "temp_max": 50.0})
    chain, _ = engine.run_batch(job, Chain(list(job.reference), seed=2), exhausted, 400_000)
    assert (chain.t_min, chain.t_max) == (0.5, 50.0)
    assert chain.epoch >= 1
    assert chain.exhausted(exhausted)


@pytest.fixture
def python_engine(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv(engine.ENGINE_ENV, "python")
    engine._compiled.cache_clear()
    yield
    monkeypatch.delenv(engine.ENGINE_ENV)
    engine._compiled.cache_clear()


def test_the_python_fallback_says_so_and_scores_the_same(
    python_engine: None, caplog: pytest.LogCaptureFixture
) -> None:
    assert not engine.compiled_available()
    with caplog.at_level(logging.INFO, logger="keyforge_node.engine"):
        engine.announce()
    assert [r.levelno for r in caplog.records] == [logging.WARNING]
    assert "Python engine (KEYFORGE_ENGINE=python)" in caplog.text
    job = system_job("ortho_30")
    schedule = Schedule.from_params({"temp_max": 100.0, "temp_min": 0.1, "search_steps": 5000})
    fallback, _ = engine.run_batch(job, Chain(list(job.reference), seed=4), schedule, 10_000)
    assert fallback.replicas == []  # the Python engine's single annealed layout
    assert fallback.best_score == job.model.score(fallback.best_layout)
    engine._compiled.cache_clear()
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv(engine.ENGINE_ENV)
        compiled, _ = engine.run_batch(job, Chain(list(job.reference), seed=4), schedule, 10_000)
    assert compiled.replicas
    # Both engines submit the model's exact score, so for the same layout the very same float.
    for chain in (fallback, compiled):
        text = " ".join(chain.best_layout)
        layout = formats.parse_layout(text, job.keycodes, job.model.key_count)
        assert job.model.score(layout) == chain.best_score
