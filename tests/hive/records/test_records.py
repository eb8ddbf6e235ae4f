"""History, exports, leaderboards per scoring model and contributors, on two real hives."""

from __future__ import annotations

import json
import os
import random
import shutil
import time
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from redis.asyncio import Redis

from keyforge_shared.keys import Keys
from tests.conftest import ValkeyFixture
from tests.hive.conftest import (
    SYSTEM_ASSETS,
    HivePair,
    beat,
    member_headers,
    publish_assets,
    register,
    running_hives,
)
from tests.hive.jobs_support import PARAMS, create_job, job_spec, post_result, read_json
from tests.support import wait_until

SPLIT = SYSTEM_ASSETS / "keyboards" / "split_3x6_3.json"


def split_spec(**fields: Any) -> dict[str, Any]:
    return job_spec(read_json(SPLIT), read_json(SYSTEM_ASSETS / "weights" / "split.json"), **fields)


def shuffled(layout: str, seed: int, keep: int = 0) -> str:
    """The layout with its keys after ``keep`` shuffled (a valid permutation, no pins)."""
    keys = layout.split()
    tail = keys[keep:]
    random.Random(seed).shuffle(tail)
    return " ".join(keys[:keep] + tail)


async def submit(client: httpx.AsyncClient, job_id: str, layout: str, node_id: str) -> bool:
    scored = await client.post(
        "/score", json={"job_id": job_id, "layout": layout}, headers=await member_headers(client)
    )
    assert scored.status_code == 200, scored.text
    reply = await post_result(
        client, job_id=job_id, layout=layout, score=scored.json()["score"], node_id=node_id
    )
    assert reply.status_code == 200, reply.text
    record: bool = reply.json()["record"]
    return record


def kle_positions(rows: list[Any]) -> list[tuple[float, float, str]]:
    """Keys of a keyboard-layout-editor JSON as (x, y, legend), by KLE's own cursor rules."""
    keys = []
    y = -1.0
    for row in rows:
        if isinstance(row, dict):
            continue  # the metadata object
        y += 1
        x = 0.0
        width = 1.0
        for item in row:
            if isinstance(item, dict):
                x += item.get("x", 0)
                y += item.get("y", 0)
                width = item.get("w", 1)
                continue
            keys.append((x, y, item))
            x += width
            width = 1.0
    return keys


async def test_history_lists_every_record_oldest_first(
    hives: HivePair, system_assets: set[str]
) -> None:
    await register(hives.a, "node-1")
    spec = split_spec()
    job_id = await create_job(hives.a, spec)
    reference = next(iter(spec["definition"]["layouts"].values()))
    records = [await submit(hives.a if i % 2 else hives.b, job_id, shuffled(reference, i), "node-1")
               for i in range(12)]  # fmt: skip
    history = (await hives.b.get(f"/jobs/{job_id}/history")).json()
    assert len(history) == sum(records) >= 1
    scores = [point["score"] for point in history]
    assert scores == sorted(scores, reverse=True)
    assert len(set(scores)) == len(scores)
    assert [p["at"] for p in history] == sorted(p["at"] for p in history)
    assert {p["node_id"] for p in history} == {"node-1"}
    best = (await hives.a.get(f"/jobs/{job_id}")).json()
    assert best["best_score"] == scores[-1]
    assert (await hives.a.get(f"/jobs/{'0' * 64}/history")).status_code == 404


async def test_exports_round_trip_on_the_geometry(hives: HivePair, system_assets: set[str]) -> None:
    await register(hives.a, "node-1")
    spec = split_spec()
    job_id = await create_job(hives.a, spec)
    reference = next(iter(spec["definition"]["layouts"].values()))
    best = shuffled(reference, 7)
    await submit(hives.a, job_id, best, "node-1")

    qmk = await hives.b.get(f"/jobs/{job_id}/export", params={"format": "qmk-json"})
    assert qmk.status_code == 200
    keymap = qmk.json()
    assert {"keyboard", "keymap", "layout", "layers"} <= set(keymap)
    assert keymap["keyboard"] == "split_3x6_3"
    assert keymap["layout"] == "LAYOUT"
    assert keymap["layers"] == [best.split()]

    geometry = spec["definition"]["geometry"]["keys"]
    kle = (await hives.a.get(f"/jobs/{job_id}/export", params={"format": "kle"})).json()
    placed = kle_positions(kle)
    assert len(placed) == len(geometry)
    for (x, y, legend), key in zip(placed, geometry, strict=True):
        assert (x, y) == pytest.approx((key["x"], key["y"]))
        assert legend
    keycodes = {k["id"]: k for k in read_json(SYSTEM_ASSETS / "keycodes.json")}
    expected = [keycodes[k]["label"] or k.removeprefix("KC_") for k in best.split()]
    assert [legend for _, _, legend in placed] == expected

    c = await hives.a.get(f"/jobs/{job_id}/export", params={"format": "qmk-c"})
    assert c.status_code == 200
    assert c.headers["content-type"].startswith("text/x-c")
    assert c.text.count("LAYOUT(") == 1
    body = c.text.split("LAYOUT(", 1)[1].rsplit(")", 1)[0]
    assert [k.strip() for k in body.split(",")] == best.split()

    other = shuffled(reference, 8)
    chosen = await hives.a.get(
        f"/jobs/{job_id}/export", params={"format": "qmk-json", "layout": other}
    )
    assert chosen.json()["layers"] == [other.split()]
    bad_layout = {"format": "qmk-json", "layout": "KC_Q " * 42}
    bad = await hives.a.get(f"/jobs/{job_id}/export", params=bad_layout)
    assert bad.status_code == 422
    assert bad.json()["error"] == "invalid_layout"
    unknown = await hives.a.get(f"/jobs/{job_id}/export", params={"format": "svg"})
    assert unknown.status_code == 422
    assert set(unknown.json()) >= {"error", "detail"}


async def test_leaderboards_group_exactly_the_comparable_jobs(
    hives: HivePair, valkey: ValkeyFixture, system_assets: set[str], tmp_path: Path
) -> None:
    await register(hives.a, "node-1")
    one = await create_job(hives.a, split_spec())
    two = await create_job(hives.b, split_spec(params={**PARAMS, "search_steps": 77}))
    assert one != two
    reference = next(iter(split_spec()["definition"]["layouts"].values()))
    for seed in range(4):
        await submit(hives.a, one, shuffled(reference, seed), "node-1")
        await submit(hives.b, two, shuffled(reference, seed + 100), "node-1")
    model = (await hives.a.get(f"/jobs/{one}")).json()["model_id"]
    assert (await hives.b.get(f"/jobs/{two}")).json()["model_id"] == model

    boards = (await hives.a.get("/leaderboard")).json()
    assert [b["model_id"] for b in boards] == [model]
    board = boards[0]
    assert board["jobs"] == 2
    assert board["results"] == 8
    assert board["keyboard_name"] == "Split 3x6+3"
    assert board["key_count"] == 42
    assert board["corpus"] == "default"

    detail = (await hives.b.get(f"/leaderboard/{model}", params={"limit": 5})).json()
    entries = detail["entries"]
    assert len(entries) == 5
    assert [e["score"] for e in entries] == sorted(e["score"] for e in entries)
    assert entries[0]["score"] == board["best_score"]
    assert {e["job_id"] for e in entries} <= {one, two}
    assert set(entries[0]["metrics"]) >= {"sfb", "effort"}
    assert (await hives.a.get(f"/leaderboard/{'f' * 64}")).status_code == 404

    # The same corpus name, edited and republished: a new job starts a new board.
    edited = tmp_path / "system"
    shutil.copytree(SYSTEM_ASSETS, edited)
    grams = edited / "corpora" / "default" / "1grams.csv"
    grams.write_text(grams.read_text().replace("e,503902623", "e,403902623"))
    settled = time.time() - 60  # an edit finished a minute ago, as the publisher wants
    os.utime(grams, (settled, settled))
    await publish_assets(valkey, edited)
    three = await create_job(hives.a, split_spec(params={**PARAMS, "search_steps": 78}))
    other = (await hives.a.get(f"/jobs/{three}")).json()["model_id"]
    assert other not in (None, model)
    assert (await hives.a.get(f"/jobs/{one}")).json()["model_id"] == model
    assert {b["model_id"] for b in (await hives.b.get("/leaderboard")).json()} == {model, other}


async def test_contributors_count_over_two_hives(
    database_url: str, valkey: ValkeyFixture, valkey_admin: Redis, system_assets: set[str]
) -> None:
    async with running_hives(database_url, valkey, KEYFORGE_WORK_UNITS_FLUSH_S=0.2) as (a, b):
        await register(a, "alpha", labels={"site": "lab"})
        await register(b, "beta")
        job_id = await create_job(a, split_spec())
        reference = next(iter(split_spec()["definition"]["layouts"].values()))
        records = {"alpha": 0, "beta": 0}
        for seed in range(6):
            node = "alpha" if seed < 4 else "beta"
            records[node] += await submit(a if seed % 2 else b, job_id, shuffled(reference, seed),
                                          node)  # fmt: skip
        for client in (a, b, a, b):
            assert (await beat(client, "alpha", ips=1000.0)).status_code == 204
        await beat(b, "beta", ips=0.0)

        async def flushed() -> bool:
            # Every beat is summed in Valkey; done once the pending hash is empty again.
            if await valkey_admin.hlen(Keys().pending_work_units()):
                return False
            rows = (await a.get("/contributors")).json()
            # ...and a flush that took it has committed (two reads agree).
            seen.append(rows[0]["work_units"] if rows else 0.0)
            return seen[-1] > 0 and seen[-2:] == [seen[-1]] * 2

        seen: list[float] = []

        await wait_until(flushed, timeout_s=5, interval_s=0.3)
        rows = {r["node_id"]: r for r in (await b.get("/contributors")).json()}
    assert rows["alpha"]["results"] == 4
    assert rows["beta"]["results"] == 2
    assert rows["alpha"]["records"] == records["alpha"]
    assert rows["beta"]["records"] == records["beta"]
    assert rows["alpha"]["labels"] == {"site": "lab"}
    assert rows["beta"]["work_units"] == 0
    # Four beats of 1000 ips a few ms apart (the first integrates from registration).
    assert 0 < rows["alpha"]["work_units"] < 1000 * 60
    assert rows["alpha"]["first_seen"] <= rows["alpha"]["last_seen"]
    conn = await asyncpg.connect(database_url)
    try:
        stored = await conn.fetchval(
            "SELECT work_units FROM node_contributions WHERE node_id = 'alpha'"
        )
    finally:
        await conn.close()
    assert stored == pytest.approx(rows["alpha"]["work_units"])
    assert json.dumps(rows)  # plain JSON all the way
