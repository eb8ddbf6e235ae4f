"""Registering jobs: the original files, the canonical id, validation, views, operator actions."""

from __future__ import annotations

import json
from typing import Any

import asyncpg
import pytest

from keyforge_hive.jobs.spec import job_id_of
from tests.hive.conftest import (
    ADMIN_HEADERS,
    NODE_HEADERS,
    ORIGINAL_DATA,
    SYSTEM_ASSETS,
    HivePair,
    member_headers,
)
from tests.hive.jobs_support import (
    create_job,
    job_spec,
    layout_keys,
    lease,
    local_model,
    original_keyboard,
    original_weights,
    post_result,
    ready_node,
)

BOARDS = ("ansi_104", "corne", "ortho_30", "szr35")
WEIGHTS = ("ortho_split", "row_stagger", "testing")


async def test_every_original_keyboard_and_weights_file_registers(
    hives: HivePair, system_assets: set[str]
) -> None:
    if not ORIGINAL_DATA.is_dir():
        pytest.skip("original KeyForge data not found")
    sent: dict[str, dict[str, Any]] = {}
    for board in BOARDS:
        for weights in WEIGHTS:
            spec = job_spec(original_keyboard(board), original_weights(weights))
            response = await hives.a.post("/jobs", json=spec, headers=await member_headers(hives.a))
            assert response.status_code == 200, (board, weights, response.text)
            answer = response.json()
            # ortho_split.json and row_stagger.json hold the same weights: one job.
            assert answer["is_new"] is (answer["job_id"] not in sent)
            sent[answer["job_id"]] = spec
    assert len(sent) == len(BOARDS) * len({json.dumps(original_weights(w)) for w in WEIGHTS})
    # One poll per job, each to a different job: the queue goes round, not newest first.
    # One node per poll: a node holds one live lease at a time (max_leases_per_node).
    served: dict[str, dict[str, Any]] = {}
    for index, _ in enumerate(sent):
        await ready_node(hives.b, f"node-{index}")
        answer = await lease(hives.b, f"node-{index}")
        assert answer["job_id"] not in served
        served[answer["job_id"]] = answer["config"]
        assert set(answer["assets"]) >= {"corpora/default/1grams.csv", "keycodes.json"}
        assert all(answer["assets"].values())
    assert served == sent


async def test_the_job_id_hashes_a_canonical_form_and_the_spec_is_stored_as_sent(
    hives: HivePair, system_assets: set[str]
) -> None:
    spec = job_spec()
    compact = json.dumps(spec, separators=(",", ":"))
    spaced = json.dumps(dict(reversed(list(spec.items()))), indent=3)
    implicit = {k: v for k, v in spec.items() if k not in ("cost_matrix", "pinned_keys")}
    ids = []
    for body in (compact, spaced, json.dumps(implicit)):
        response = await hives.a.post(
            "/jobs",
            content=body,
            headers={**await member_headers(hives.a), "Content-Type": "application/json"},
        )
        assert response.status_code == 200, response.text
        ids.append(response.json())
    assert [answer["is_new"] for answer in ids] == [True, False, False]
    assert len({answer["job_id"] for answer in ids}) == 1
    assert ids[0]["job_id"] == job_id_of(spec)
    other_spec = job_spec(weights={"penalty_sfb_base": 401.0})
    other = await create_job(hives.b, other_spec)
    assert other != ids[0]["job_id"]
    conn = await asyncpg.connect(hives.database_url)
    try:
        stored = await conn.fetchval("SELECT spec::text FROM jobs WHERE job_id = $1", other)
        first = await conn.fetchval(
            "SELECT spec::text FROM jobs WHERE job_id = $1", ids[0]["job_id"]
        )
    finally:
        await conn.close()
    assert first == compact  # byte for byte, as the first client sent it
    assert json.loads(stored) == other_spec


def _mutated(path: str, value: Any) -> dict[str, Any]:
    spec = job_spec()
    target = spec
    *parents, last = path.split(".")
    for part in parents:
        target = target[part]
    target[last] = value
    return spec


INVALID_SPECS = {
    "no layouts": _mutated("definition.layouts", {}),
    "unknown corpus": _mutated("corpus_name", "klingon"),
    "corpus outside corpora/": _mutated("corpus_name", "../default"),
    "unknown cost matrix": _mutated("cost_matrix", "nope.csv"),
    "cost matrix in a folder": _mutated("cost_matrix", "corpora/default/1grams.csv"),
    "pinned slot outside the keys": _mutated("pinned_keys", "30:KC_A"),
    "pinned unknown keycode": _mutated("pinned_keys", "0:KC_NOPE"),
    "pinned key twice": _mutated("pinned_keys", "0:KC_Q,0:KC_W"),
    "pinned key outside the alphabet": _mutated("pinned_keys", "0:KC_F1"),
    "pinned pair malformed": _mutated("pinned_keys", "first:KC_Q"),
    "weight of the wrong type": _mutated("weights", {"penalty_sfb_base": "high"}),
    "weights not an object": _mutated("weights", [1, 2]),
    "negative epochs": _mutated("params.search_epochs", -1),
    "missing param": _mutated("params", {"search_epochs": 1}),
    "no keys": _mutated("definition.geometry.keys", []),
    "256 keys": _mutated(
        "definition.geometry.keys",
        [
            {"id": f"k{i}", "hand": 0, "finger": 1, "row": 0, "col": 0, "x": 0, "y": 0}
            for i in range(256)
        ],
    ),
    "tier slot outside the keys": _mutated("definition.geometry.prime_slots", [99]),
    "reference layout with an unknown keycode": _mutated(
        "definition.layouts", {"Bad": " ".join(["KC_NOPE"] * 30)}
    ),
    "reference layout too short": _mutated("definition.layouts", {"Short": "KC_Q KC_W"}),
    "unknown top-level field": {**job_spec(), "surprise": 1},
    "NUL in a name": _mutated("definition.meta.name", "a\x00b"),
}


RAW_INVALID = {
    "NaN weight": '"weights": {"penalty_sfb_base": NaN}',
    "Infinity in an unknown weight": '"weights": {"future_weight": Infinity}',
    "overflowing number": '"weights": {"future_weight": 1e400}',
    "lone surrogate": '"weights": {"\\ud800": 1}',
}


async def test_invalid_specs_are_refused(hives: HivePair, system_assets: set[str]) -> None:
    """One hive pair for every case: each is a 422 envelope and registers nothing."""
    json_headers = {**await member_headers(hives.a), "Content-Type": "application/json"}
    bodies = {case: json.dumps(spec) for case, spec in INVALID_SPECS.items()}
    for case, fragment in RAW_INVALID.items():
        # Bodies Python's json accepts but Postgres could not store.
        bodies[case] = json.dumps(job_spec()).replace('"weights": {}', fragment)
    for case, body in bodies.items():
        response = await hives.a.post("/jobs", content=body, headers=json_headers)
        assert response.status_code == 422, (case, response.text)
        assert set(response.json()) >= {"error", "detail"}, case
    assert (await hives.a.get("/jobs")).json() == []


async def test_slot_char_pins_map_through_keycodes(
    hives: HivePair, system_assets: set[str]
) -> None:
    pinned = await create_job(hives.a, job_spec(pinned_keys="0:q, 1:KC_W"))
    assert (await hives.a.get(f"/jobs/{pinned}")).status_code == 200


async def test_job_views_and_operator_actions(hives: HivePair, system_assets: set[str]) -> None:
    job_id = await create_job(hives.a, job_spec())
    listed = (await hives.b.get("/jobs")).json()
    assert [j["job_id"] for j in listed] == [job_id]
    assert listed[0]["status"] == "active"
    assert listed[0]["results"] == 0
    assert listed[0]["best_score"] is None
    view = (await hives.b.get(f"/jobs/{job_id}")).json()
    assert view["status"] == "active"
    assert view["best_layout"] is None
    assert view["metrics"] is None
    assert (await hives.a.get(f"/jobs/{'0' * 64}")).status_code == 404
    assert (await hives.a.get("/jobs/not-a-job")).status_code == 404

    async def act(action: str, headers: dict[str, str] = ADMIN_HEADERS) -> tuple[int, Any]:
        response = await hives.b.post(f"/jobs/{job_id}/{action}", headers=headers)
        return response.status_code, response.json()

    assert (await act("pause", NODE_HEADERS))[0] == 403
    assert (await act("pause", {}))[0] == 401
    status, body = await act("pause")
    assert (status, body["status"], body["changed"]) == (200, "paused", True)
    assert (await act("pause"))[1]["changed"] is False
    assert (await hives.a.get("/jobs", params={"status": "paused"})).json()[0]["job_id"] == job_id
    assert (await hives.a.get("/jobs", params={"status": "active"})).json() == []
    assert (await act("resume"))[1]["status"] == "active"
    assert (await act("cancel"))[1]["status"] == "cancelled"
    status, body = await act("resume")
    assert (status, body["error"]) == (409, "invalid_transition")
    response = await hives.a.post(f"/jobs/{'0' * 64}/cancel", headers=ADMIN_HEADERS)
    assert response.status_code == 404


async def test_a_completed_job_is_done_and_closed(hives: HivePair, system_assets: set[str]) -> None:
    spec = job_spec()
    job_id = await create_job(hives.a, spec)
    await ready_node(hives.a, "n1")
    await hives.a.post(f"/jobs/{job_id}/pause", headers=ADMIN_HEADERS)
    assert (await hives.b.post(f"/jobs/{job_id}/complete", headers=NODE_HEADERS)).status_code == 403
    done = await hives.b.post(f"/jobs/{job_id}/complete", headers=ADMIN_HEADERS)
    assert done.json() == {
        "job_id": job_id,
        "status": "done",
        "previous": "paused",
        "changed": True,
    }
    assert (await hives.a.get(f"/jobs/{job_id}")).json()["status"] == "done"
    assert [
        j["job_id"] for j in (await hives.a.get("/jobs", params={"status": "done"})).json()
    ] == [job_id]
    for action in ("resume", "cancel", "pause"):
        refused = await hives.a.post(f"/jobs/{job_id}/{action}", headers=ADMIN_HEADERS)
        assert (refused.status_code, refused.json()["error"]) == (409, "invalid_transition")
    assert (await lease(hives.a, "n1"))["job_id"] is None
    keys = layout_keys(SYSTEM_ASSETS, spec, "Qwerty")
    claim = local_model(SYSTEM_ASSETS, spec).score(keys)
    closed = await post_result(hives.b, job_id=job_id, layout=" ".join(keys), score=claim)
    assert (closed.status_code, closed.json()["error"]) == (409, "job_closed")
