"""Results and scoring through the API: the ranking, verification, durability rules, metrics."""

from __future__ import annotations

import asyncio
import json
import os
import random
import shutil
import time
from collections import Counter
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from tests.conftest import ValkeyFixture
from tests.hive.conftest import (
    ADMIN_HEADERS,
    NODE_HEADERS,
    ORIGINAL_DATA,
    SYSTEM_ASSETS,
    HivePair,
    member_headers,
    publish_assets,
)
from tests.hive.jobs_support import (
    assets_model,
    create_job,
    job_spec,
    layout_keys,
    local_model,
    original_keyboard,
    original_weights,
    post_result,
    read_json,
)
from tests.support import wait_until

PERCENTAGES = ("sfb", "skip_bigrams", "lateral_stretch", "pinky_scissors", "tri_redirect",
               "roll_in", "roll_out")  # fmt: skip


async def score(client: httpx.AsyncClient, job_id: str, layout: str) -> httpx.Response:
    return await client.post(
        "/score", json={"job_id": job_id, "layout": layout}, headers=await member_headers(client)
    )


async def test_ortho_30_ranking_served_by_the_api(
    hives: HivePair, original_assets: set[str]
) -> None:
    spec = job_spec(original_keyboard("ortho_30"), original_weights("ortho_split"))
    job_id = await create_job(hives.a, spec)
    model = local_model(ORIGINAL_DATA, spec)
    alphabet = Counter(layout_keys(ORIGINAL_DATA, spec, "Qwerty"))
    by_layout: dict[str, str] = {}
    for name, text in spec["definition"]["layouts"].items():
        keys = layout_keys(ORIGINAL_DATA, spec, name)
        scored = await score(hives.b, job_id, text)
        assert scored.status_code == 200, (name, scored.text)
        assert scored.json()["score"] == model.score(keys)  # the same float everywhere
        claim = scored.json()["score"]
        response = await post_result(hives.a, job_id=job_id, layout=text, score=claim)
        if Counter(keys) == alphabet:
            assert response.status_code == 200, (name, response.text)
            assert response.json()["score"] == claim
            by_layout[" ".join(keys)] = name
        else:
            assert response.status_code == 422, (name, response.text)
            assert response.json()["error"] == "invalid_layout"
    population = await hives.b.get(
        f"/jobs/{job_id}/population", headers=await member_headers(hives.b)
    )
    ranking = [by_layout[layout] for layout in population.json()["layouts"]]
    scores = {name: model.score(layout.split()) for layout, name in by_layout.items()}
    print("ortho_30 ranking:", ", ".join(f"{n} {scores[n]:.1f}" for n in ranking))
    assert {"Colemak", "Colemak-DH", "Workman", "Hands Down Ref"} <= set(ranking)
    assert ranking[-1] == "Qwerty"
    view = (await hives.a.get(f"/jobs/{job_id}")).json()
    assert by_layout[view["best_layout"]] == ranking[0]
    assert view["best_score"] == scores[ranking[0]]
    assert view["results"] == len(ranking)
    assert set(view["metrics"]) >= {*PERCENTAGES, "effort", "distance"}


async def test_results_are_verified_fenced_and_idempotent(
    hives: HivePair, system_assets: set[str]
) -> None:
    spec = job_spec(pinned_keys="0:KC_Q")
    job_id = await create_job(hives.a, spec)
    model = local_model(SYSTEM_ASSETS, spec)
    qwerty = layout_keys(SYSTEM_ASSETS, spec, "Qwerty")
    rng = random.Random(11)

    def variant() -> list[str]:
        rest = qwerty[1:]
        rng.shuffle(rest)
        return [qwerty[0], *rest]

    async def send(keys: list[str], **overrides: Any) -> httpx.Response:
        body: dict[str, Any] = {"job_id": job_id, "layout": " ".join(keys), **overrides}
        if "score" not in body:
            body["score"] = model.score(keys)
        return await post_result(hives.b, **body)

    refused = {
        "wrong length": await send(qwerty[:-1], score=1.0),
        "unknown keycode": await send([*qwerty[:-1], "KC_NOPE"], score=1.0),
        "not a permutation": await send([*qwerty[:-1], qwerty[0]], score=1.0),
        "pin broken": await send([qwerty[1], qwerty[0], *qwerty[2:]]),
    }
    for case, response in refused.items():
        assert (response.status_code, response.json()["error"]) == (422, "invalid_layout"), case
    raw = json.dumps({"job_id": job_id, "layout": " ".join(qwerty), "score": 1.0, "node_id": "n"})
    for bad in ("NaN", "Infinity", "1e999"):
        response = await hives.a.post(
            "/results",
            content=raw.replace("1.0", bad),
            headers={**await member_headers(hives.a, "n"), "Content-Type": "application/json"},
        )
        assert response.status_code == 422, (bad, response.text)
    unknown = await send(qwerty, job_id="0" * 64)
    assert (unknown.status_code, unknown.json()["error"]) == (404, "unknown_job")

    true_score = model.score(qwerty)
    mismatch = await send(qwerty, score=true_score + 5.5)
    assert (mismatch.status_code, mismatch.json()["error"]) == (409, "score_mismatch")
    assert mismatch.json()["expected_score"] == true_score
    first = await send(qwerty, score=true_score - 4.5)  # inside the tolerance
    assert first.json() == {"status": "accepted", "score": true_score, "record": True}
    assert (await send(qwerty, score=true_score + 1)).json() == first.json()  # a resend

    layouts = sorted((variant() for _ in range(6)), key=model.score)
    worse = next(k for k in layouts if model.score(k) > true_score)
    better = next(k for k in layouts if model.score(k) < true_score)
    assert (await send(worse)).json()["record"] is False
    assert (await send(better)).json()["record"] is True
    view = (await hives.a.get(f"/jobs/{job_id}")).json()
    assert (view["results"], view["best_layout"]) == (3, " ".join(better))
    assert view["best_score"] == model.score(better)
    assert view["metrics"] == model.metrics(better)

    await hives.a.post(f"/jobs/{job_id}/cancel", headers=ADMIN_HEADERS)
    closed = await send(layouts[-1] if layouts[-1] not in (worse, better) else layouts[-2])
    assert (closed.status_code, closed.json()["error"]) == (409, "job_closed")
    assert (await send(better)).json()["status"] == "accepted"  # stored before: same answer
    conn = await asyncpg.connect(hives.database_url)
    try:
        stored = await conn.fetchval("SELECT count(*) FROM results WHERE job_id = $1", job_id)
    finally:
        await conn.close()
    assert stored == 3


async def test_the_score_tolerance_is_a_runtime_setting(
    hives: HivePair, system_assets: set[str]
) -> None:
    spec = job_spec()
    job_id = await create_job(hives.a, spec)
    qwerty = layout_keys(SYSTEM_ASSETS, spec, "Qwerty")
    true_score = local_model(SYSTEM_ASSETS, spec).score(qwerty)

    async def claim(off_by: float) -> httpx.Response:
        return await post_result(
            hives.b, job_id=job_id, layout=" ".join(qwerty), score=true_score + off_by
        )

    assert (await claim(7.5)).json()["error"] == "score_mismatch"  # default 5.0
    settings = (await hives.a.get("/settings", headers=ADMIN_HEADERS)).json()
    settings["score_tolerance"] = 10.0
    put = await hives.a.put("/settings", json=settings, headers=ADMIN_HEADERS)
    assert put.status_code == 200, put.text

    async def accepted() -> bool:
        return (await claim(7.5)).status_code == 200

    await wait_until(accepted, timeout_s=5)  # on the other hive too
    assert (await claim(10.5)).json()["error"] == "score_mismatch"
    settings["score_tolerance"] = -1
    refused = await hives.a.put("/settings", json=settings, headers=ADMIN_HEADERS)
    assert refused.status_code == 422


async def test_score_reports_analyzer_metrics_for_any_alphabet(
    hives: HivePair, original_assets: set[str]
) -> None:
    spec = job_spec(original_keyboard("corne"), original_weights("testing"), pinned_keys="0:KC_Q")
    job_id = await create_job(hives.a, spec)
    layouts = spec["definition"]["layouts"]
    metrics: dict[str, dict[str, float]] = {}
    for name, text in layouts.items():
        response = await score(hives.b, job_id, text)
        if len(text.split()) != 42:
            assert response.status_code == 422, name  # Maltron lists 41 keycodes for 42 keys
            continue
        assert response.status_code == 200, (name, response.text)
        metrics[name] = response.json()["metrics"]
        for metric in PERCENTAGES:
            assert 0 <= metrics[name][metric] <= 100, (name, metric)
    assert metrics["Qwerty"]["sfb"] > metrics["Colemak-DH"]["sfb"]
    rolls = {name: metrics[name]["roll_in"] + metrics[name]["roll_out"] for name in metrics}
    assert rolls["Dvorak"] != rolls["Qwerty"]
    assert (await score(hives.b, job_id, "KC_Q " * 42)).status_code == 200  # pins ignored
    assert (await score(hives.b, job_id, "KC_NOPE " * 42)).status_code == 422


async def test_population_is_the_jobs_best_then_neighbours_on_the_same_keyboard(
    hives: HivePair, system_assets: set[str]
) -> None:
    spec = job_spec()
    neighbour = job_spec(weights={"penalty_sfb_base": 300.0})
    elsewhere = job_spec(read_json(SYSTEM_ASSETS / "keyboards" / "split_3x6_3.json"))
    ids = [await create_job(hives.a, s) for s in (spec, neighbour, elsewhere)]
    rng = random.Random(5)
    posted: dict[str, list[tuple[float, str]]] = {}
    for job_id, job, count in zip(ids, (spec, neighbour, elsewhere), (50, 8, 3), strict=True):
        model = local_model(SYSTEM_ASSETS, job)
        keys = layout_keys(SYSTEM_ASSETS, job, next(iter(job["definition"]["layouts"])))
        for _ in range(count):
            rng.shuffle(keys)
            text = " ".join(keys)
            response = await post_result(
                hives.b, job_id=job_id, layout=text, score=model.score(keys)
            )
            assert response.status_code == 200, response.text
            posted.setdefault(job_id, []).append((model.score(keys), text))
    answer = await hives.a.get(f"/jobs/{ids[0]}/population", headers=await member_headers(hives.a))
    layouts = answer.json()["layouts"]
    own = [text for _, text in sorted(posted[ids[0]])][:45]
    neighbours = [text for _, text in sorted(posted[ids[1]])][:5]
    assert layouts == own + neighbours
    assert (await hives.a.get(f"/jobs/{ids[0]}/population")).status_code == 401
    missing = await hives.a.get(
        f"/jobs/{'1' * 64}/population", headers=await member_headers(hives.a)
    )
    assert missing.status_code == 404


async def _collect_events(client: httpx.AsyncClient, into: list[tuple[str, Any]]) -> None:
    async with client.stream("GET", "/events") as response:
        kind = ""
        async for line in response.aiter_lines():
            if line.startswith("retry:"):
                into.append(("connected", None))
            elif line.startswith("event: "):
                kind = line.removeprefix("event: ")
            elif line.startswith("data: "):
                into.append((kind, json.loads(line.removeprefix("data: "))))


async def test_sse_on_one_hive_sees_job_events_made_through_the_other(
    hives: HivePair, system_assets: set[str]
) -> None:
    seen: list[tuple[str, Any]] = []
    reader = asyncio.create_task(_collect_events(hives.a, seen))
    try:

        async def connected() -> bool:
            return any(kind == "connected" for kind, _ in seen)

        await wait_until(connected)
        spec = job_spec()
        job_id = await create_job(hives.b, spec)
        await hives.b.post(f"/jobs/{job_id}/pause", headers=ADMIN_HEADERS)
        keys = layout_keys(SYSTEM_ASSETS, spec, "Colemak")
        score_ = local_model(SYSTEM_ASSETS, spec).score(keys)
        response = await post_result(hives.b, job_id=job_id, layout=" ".join(keys), score=score_)
        assert response.json()["record"] is True

        async def all_seen() -> bool:
            statuses = [d["status"] for k, d in seen if k == "job_status" and d["job_id"] == job_id]
            records = [d for k, d in seen if k == "new_record" and d["job_id"] == job_id]
            return statuses == ["active", "paused"] and len(records) == 1

        await wait_until(all_seen)
        record = next(d for k, d in seen if k == "new_record")
        assert record["score"] == score_
        assert record["layout"] == " ".join(keys)
    finally:
        reader.cancel()


async def test_submissions_are_stored_and_listed_newest_first(hives: HivePair) -> None:
    for i in range(3):
        response = await hives.a.post(
            "/submissions",
            json={"name": f"layout {i}", "layout": "KC_Q KC_W KC_E KC_R", "author": "me"},
            headers=NODE_HEADERS,
        )
        assert response.status_code == 201, response.text
        assert set(response.json()) == {"id", "status"}
        assert response.json()["status"] == "received"
    listed = (await hives.b.get("/submissions", headers=NODE_HEADERS)).json()
    assert [s["name"] for s in listed] == ["layout 2", "layout 1", "layout 0"]
    bad = [
        {"name": "x", "layout": "KC_Q KC_W KC_E"},
        {"name": "ok name", "layout": "short"},
        {"name": "ok name", "layout": "KC_Q KC_W KC_E", "author": "a" * 65},
        {"name": "nul\x00name", "layout": "KC_Q KC_W KC_E"},
        {"layout": "KC_Q KC_W KC_E"},
    ]
    for body in bad:
        response = await hives.a.post("/submissions", json=body, headers=NODE_HEADERS)
        assert response.status_code == 422, body
    assert (await hives.a.get("/submissions")).status_code == 401


async def test_a_republished_asset_rebuilds_the_jobs_scorer(
    hives: HivePair, valkey: ValkeyFixture, tmp_path: Path
) -> None:
    root = tmp_path / "system"
    shutil.copytree(SYSTEM_ASSETS, root)
    await publish_assets(valkey, root)
    spec = job_spec()
    job_id = await create_job(hives.a, spec)
    qwerty = layout_keys(root, spec, "Qwerty")
    before = (await score(hives.b, job_id, " ".join(qwerty))).json()["score"]
    assert before == assets_model.__wrapped__(root, json.dumps(spec["definition"]), "{}").score(
        qwerty
    )
    matrix = root / "cost_matrix.csv"
    header, *rows = matrix.read_text().splitlines()
    slower = [",".join([*r.split(",")[:2], str(float(r.split(",")[2]) + 10), r.split(",")[3]])
              for r in rows]  # fmt: skip
    matrix.write_text("\n".join([header, *slower]) + "\n")
    past = time.time() - 5
    os.utime(matrix, (past, past))
    await publish_assets(valkey, root)
    after = (await score(hives.b, job_id, " ".join(qwerty))).json()["score"]
    expected = assets_model.__wrapped__(root, json.dumps(spec["definition"]), "{}").score(qwerty)
    assert after == expected
    assert after > before
