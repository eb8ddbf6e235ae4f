"""The node's parts on their own: search, pins, outbox, backoff, identity, secrets, endpoints."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import time
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from keyforge_node.annealing import Chain, Schedule, run_batch
from keyforge_node.hardware import l2_cache_kb, parse_cache_size
from keyforge_node.heartbeat import WorkMeter
from keyforge_node.identity import lock_state_dir, stable_node_id
from keyforge_node.job_model import ModelRecipe, build_job_model
from keyforge_node.outbox import Outbox, Result
from keyforge_shared.client.backoff import Backoff, Stopped, unless_stopping
from keyforge_shared.client.endpoints import Endpoint
from keyforge_shared.client.secret_source import SecretSource
from keyforge_shared.client.targets import derived_assets_url
from keyforge_shared.job_scorer import JobScorer, spec_asset_paths

SYSTEM = Path(__file__).resolve().parents[2] / "data" / "system"
PINS = "0:KC_E,10:a,29:KC_Z"


@cache
def job_model(pinned_keys: str = "") -> JobScorer:
    config: dict[str, Any] = {
        "definition": json.loads((SYSTEM / "keyboards" / "ortho_30.json").read_text()),
        "weights": {},
        "corpus_name": "default",
        "pinned_keys": pinned_keys,
    }
    files = [
        (p, SYSTEM / p, hashlib.sha256((SYSTEM / p).read_bytes()).hexdigest())
        for p in spec_asset_paths(config)
    ]
    return build_job_model(ModelRecipe.of(config, files))


def test_annealing_improves_on_qwerty_and_reports_exact_scores() -> None:
    job = job_model()
    qwerty = job.model.score(job.reference)
    chain = Chain(list(job.reference), seed=1)
    schedule = Schedule.from_params({"temp_max": 100.0, "temp_min": 0.1, "search_steps": 5000})
    chain, ops = run_batch(job, chain, schedule, 25_000)
    assert ops > 20_000
    assert chain.best_score <= qwerty * 0.9
    assert chain.best_score == job.model.score(chain.best_layout)  # the hive recomputes this
    assert chain.score == job.model.score(chain.layout)
    assert job.valid_layout(" ".join(chain.best_layout)) == chain.best_layout


def test_pinned_slots_hold_their_keys_through_seeding_and_search() -> None:
    job = job_model(PINS)
    assert job.pinned == {0: "KC_E", 10: "KC_A", 29: "KC_Z"}
    assert job.valid_layout(" ".join(job.reference)) is None  # QWERTY breaks the pins
    seed = job.with_pins(job.reference)
    assert job.valid_layout(" ".join(seed)) == seed
    assert sorted(seed) == sorted(job.reference)
    chain, _ = run_batch(job, Chain(seed, seed=3), Schedule.from_params({}), 20_000)
    for layout in (chain.layout, chain.best_layout):
        assert job.valid_layout(" ".join(layout)) == layout
    assert not {0, 10, 29} & set(job.free_slots)


def test_a_job_without_usable_temperatures_gets_its_own() -> None:
    job = job_model()
    chain, _ = run_batch(job, Chain(list(job.reference), seed=5), Schedule.from_params({}), 3000)
    assert 0 < chain.t_min < chain.t_max
    exhausted = Schedule.from_params({"search_epochs": 1})
    chain, _ = run_batch(job, chain, exhausted, exhausted.epoch_steps + 10)
    assert chain.epoch == 1
    assert chain.exhausted(exhausted)


def test_the_outbox_keeps_the_best_unsent_result_per_job_across_restarts(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path)
    first = Result("job-a", "0.1.aaaaaaaaaaaaaaaa", "KC_A KC_B", 100.0)
    assert outbox.offer(first)
    assert not outbox.offer(Result("job-a", "0.1.aaaaaaaaaaaaaaaa", "KC_B KC_A", 120.0))
    better = Result("job-a", "0.1.aaaaaaaaaaaaaaaa", "KC_B KC_A", 90.0)
    assert outbox.offer(better)
    assert outbox.offer(Result("job-b", None, "KC_C KC_D", 5.0))
    assert {r.job_id: r.score for r in Outbox(tmp_path).pending()} == {"job-a": 90.0, "job-b": 5.0}
    outbox.settle(first, 100.0)  # an answer for a result since replaced: the better one stays
    assert better in outbox.pending()
    outbox.settle(better, 90.0)
    assert not outbox.offer(Result("job-a", None, "KC_A KC_B", 95.0))  # no better than accepted
    reloaded = Outbox(tmp_path)
    assert [r.job_id for r in reloaded.pending()] == ["job-b"]
    assert reloaded.best_known("job-a") == 90.0
    assert not reloaded.emptied.is_set()
    reloaded.settle(reloaded.pending()[0], None)
    assert reloaded.emptied.is_set()
    assert (tmp_path / "outbox.json").stat().st_mode & 0o077 == 0


def test_while_the_hive_is_unreachable_every_improvement_is_kept_in_order(
    tmp_path: Path,
) -> None:
    outbox = Outbox(tmp_path)
    outbox.offer(Result("job-a", None, "first", 100.0))
    outbox.offer(Result("job-a", None, "replaced", 99.0))
    outbox.set_unreachable(True)  # a send failed: an outage began
    for n in range(20):
        outbox.offer(Result("job-a", None, f"found-{n}", 90.0 - n))
    kept = [r.layout for r in outbox.pending()]
    assert kept == [f"found-{n}" for n in range(4, 20)]  # the 16 latest, oldest first
    assert [r.layout for r in Outbox(tmp_path).pending()] == kept  # and on disk, in order
    outbox.set_unreachable(False)
    outbox.offer(Result("job-a", None, "after", 10.0))
    assert [r.layout for r in outbox.pending()] == [*kept, "after"]  # owed ones stay owed
    for result in outbox.pending():
        outbox.settle(result, result.score)
    outbox.offer(Result("job-a", None, "later", 5.0))
    outbox.offer(Result("job-a", None, "best", 4.0))
    assert [r.layout for r in outbox.pending()] == ["best"]  # answered again: best only


def test_backoff_doubles_with_jitter_up_to_its_cap() -> None:
    backoff = Backoff(base_s=0.5, cap_s=8.0)
    delays = [backoff.next_delay() for _ in range(10)]
    for n, delay in enumerate(delays):
        ceiling = min(8.0, 0.5 * 2**n)
        assert ceiling / 2 <= delay <= ceiling
    assert backoff.next_delay(at_least_s=30.0) == 30.0  # the hive's Retry-After wins
    backoff.reset()
    assert backoff.next_delay() <= 0.5


def test_the_node_id_is_made_once_and_one_node_runs_per_state_dir(tmp_path: Path) -> None:
    first = stable_node_id(tmp_path)
    assert stable_node_id(tmp_path) == first
    assert (tmp_path / "node-id").stat().st_mode & 0o077 == 0
    lock = lock_state_dir(tmp_path)
    try:
        with pytest.raises(SystemExit, match="already runs"):
            lock_state_dir(tmp_path)
    finally:
        lock.close()
    (tmp_path / "node-id").write_text("not a valid id!\n")
    with pytest.raises(SystemExit, match="no valid node id"):
        stable_node_id(tmp_path)


def test_a_rotated_secret_file_is_noticed_and_refresh_reads_it_now(tmp_path: Path) -> None:
    secret_file = tmp_path / "hive"
    secret_file.write_text("old-secret\n")
    source = SecretSource(path=secret_file)
    assert source.current() == "old-secret"
    secret_file.write_text("new-secret-longer\n")
    assert source.refresh() is True
    assert source.current() == "new-secret-longer"
    assert source.refresh() is False
    os.environ["KEYFORGE_TEST_SECRET"] = "from-env"
    try:
        assert SecretSource(env_name="KEYFORGE_TEST_SECRET").current() == "from-env"
    finally:
        del os.environ["KEYFORGE_TEST_SECRET"]


def test_localhost_names_connect_to_loopback_and_keep_their_name() -> None:
    api = Endpoint.parse("https://api.keyforge.localhost:8443/")
    assert (api.connect_host, api.host_header, api.port) == (
        "127.0.0.1",
        "api.keyforge.localhost:8443",
        8443,
    )
    assert Endpoint.parse("https://example.org").host_header == "example.org"
    assert Endpoint.parse("http://10.0.0.5:3000").connect_host == "10.0.0.5"
    assets = derived_assets_url(api)
    assert assets is not None
    assert assets.url == "https://assets.keyforge.localhost:8443"
    local = derived_assets_url(Endpoint.parse("http://127.0.0.1:3000"))
    assert local is not None
    assert local.url == "http://127.0.0.1:3001"
    with pytest.raises(ValueError, match="origin"):
        Endpoint.parse("https://api.keyforge.localhost/v1")


def test_cache_sizes_from_sysfs(tmp_path: Path) -> None:
    assert parse_cache_size("1024K\n") == 1024
    assert parse_cache_size("2M") == 2048
    index = tmp_path / "index2"
    index.mkdir()
    (index / "level").write_text("2\n")
    (index / "type").write_text("Unified\n")
    (index / "size").write_text("512K\n")
    assert l2_cache_kb(tmp_path) == 512
    assert l2_cache_kb(tmp_path / "missing") is None


async def test_a_stop_ends_a_waiting_call_at_once() -> None:
    stopping = asyncio.Event()
    asyncio.get_running_loop().call_later(0.05, stopping.set)
    with pytest.raises(Stopped):
        await asyncio.wait_for(unless_stopping(stopping, asyncio.sleep(30)), 5)
    assert await unless_stopping(asyncio.Event(), asyncio.sleep(0, result=2)) == 2


def test_the_measured_speed_covers_a_window_not_the_gap_since_the_last_beat() -> None:
    meter = WorkMeter(window_s=0.5)
    time.sleep(0.5)
    meter.add(1000)
    assert meter.rate() == 2000.0  # 1000 ops in the last half second
    assert meter.rate() == 2000.0  # asking again resets nothing
    time.sleep(0.6)
    assert meter.rate() == 0.0
