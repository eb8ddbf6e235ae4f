"""The lease queue: who gets work, fairness, in-flight slots, expiry and fencing."""

from __future__ import annotations

import asyncio
import random
from collections import Counter

import pytest
from redis.asyncio import Redis

from tests.conftest import ValkeyFixture
from tests.hive.conftest import (
    ADMIN_HEADERS,
    NODE_HEADERS,
    SYSTEM_ASSETS,
    HivePair,
    running_hives,
    set_runtime_settings,
)
from tests.hive.jobs_support import (
    create_job,
    job_spec,
    layout_keys,
    lease,
    local_model,
    post_result,
    ready_node,
)

SLOTS = 8  # the default number of work slots per job


@pytest.fixture(autouse=True)
def _one_node_may_hold_many_leases(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests drive every slot from one or two nodes: lift the per-node cap (default 1,
    tested in test_fair_leases) through the environment that seeds a fresh fleet's settings."""
    monkeypatch.setenv("KEYFORGE_SETTING_MAX_LEASES_PER_NODE", "1000")


async def test_no_work_for_unknown_or_draining_nodes(
    hives: HivePair, system_assets: set[str]
) -> None:
    job_id = await create_job(hives.a, job_spec())
    response = await hives.a.get(
        "/jobs/queue", params={"node_id": "ghost", "wait": 0}, headers=ADMIN_HEADERS
    )
    assert (response.status_code, response.json()["error"]) == (404, "unknown_node")
    response = await hives.a.get(
        "/jobs/queue", params={"node_id": "ghost", "wait": 0}, headers=NODE_HEADERS
    )
    assert (response.status_code, response.json()["error"]) == (401, "node_token_required")
    response = await hives.a.get("/jobs/queue", params={"node_id": "ghost", "wait": 0})
    assert response.status_code == 401
    await ready_node(hives.a, "node-1")
    assert (await hives.b.post("/nodes/node-1/drain", headers=ADMIN_HEADERS)).status_code == 200
    assert await lease(hives.b, "node-1") == {
        "job_id": None,
        "config": None,
        "lease_id": None,
        "lease_expires_at": None,
    }
    assert (await hives.a.post("/nodes/node-1/undrain", headers=ADMIN_HEADERS)).status_code == 200
    assert (await lease(hives.b, "node-1"))["job_id"] == job_id


async def test_a_waiting_poll_is_woken_by_a_job_created_on_another_hive(
    hives: HivePair, system_assets: set[str]
) -> None:
    await ready_node(hives.b, "node-1")
    waiting = asyncio.create_task(lease(hives.b, "node-1", wait=15))
    await asyncio.sleep(0.3)  # let the poll find nothing and start waiting
    assert not waiting.done()
    job_id = await create_job(hives.a, job_spec())
    answer = await waiting
    assert answer["job_id"] == job_id
    assert answer["attempt"] == 1


async def test_each_slot_is_leased_once_and_jobs_take_turns(
    hives: HivePair, system_assets: set[str]
) -> None:
    jobs = [
        await create_job(hives.a, job_spec(weights={"penalty_sfb_base": 400.0 + i}))
        for i in range(3)
    ]
    await ready_node(hives.a, "node-1")
    answers = [await lease(hives.a if i % 2 else hives.b, "node-1") for i in range(3 * SLOTS)]
    # Round robin: every job once before any job twice.
    assert {a["job_id"] for a in answers[:3]} == set(jobs)
    assert Counter(a["job_id"] for a in answers) == dict.fromkeys(jobs, SLOTS)
    assert len({(a["job_id"], a["slot"]) for a in answers}) == 3 * SLOTS
    assert {a["attempt"] for a in answers} == {1}
    assert len({a["lease_id"] for a in answers}) == 3 * SLOTS
    # Every slot is in flight now: nothing more to hand out.
    assert (await lease(hives.b, "node-1"))["job_id"] is None
    # A paused job's slots are not offered again; a cancelled one's neither.
    await hives.a.post(f"/jobs/{jobs[0]}/pause", headers=ADMIN_HEADERS)
    await hives.a.post(f"/jobs/{jobs[1]}/cancel", headers=ADMIN_HEADERS)
    assert (await hives.a.get("/cluster/stats")).json()["jobs_active"] == 1


async def test_an_expired_lease_goes_to_another_node_and_fences_its_old_holder(
    database_url: str, valkey: ValkeyFixture, valkey_admin: Redis, system_assets: set[str]
) -> None:
    await set_runtime_settings(database_url, lease_s=5, max_leases_per_node=1000)
    async with running_hives(database_url, valkey) as (a, b):
        spec = job_spec()
        job_id = await create_job(a, spec)
        await ready_node(a, "holder")
        await ready_node(b, "other")
        held = {
            answer["slot"]: answer for answer in [await lease(a, "holder") for _ in range(SLOTS)]
        }
        assert len(held) == SLOTS
        assert (await lease(b, "other"))["job_id"] is None
        # The holder dies here: it never reports. After lease_s its work is handed out again.
        again = await lease(b, "other", wait=20)
        assert again["job_id"] == job_id
        assert again["attempt"] == 2
        assert again["config"] == spec

        model = local_model(SYSTEM_ASSETS, spec)
        reference = layout_keys(SYSTEM_ASSETS, spec, "Qwerty")
        rng = random.Random(3)

        def shuffled() -> tuple[str, float]:
            keys = list(reference)
            rng.shuffle(keys)
            return " ".join(keys), model.score(keys)

        layout, score = shuffled()
        stale = await post_result(
            a,
            job_id=job_id,
            layout=layout,
            score=score,
            node_id="holder",
            lease_id=held[again["slot"]]["lease_id"],
        )
        assert stale.status_code == 409, stale.text
        assert stale.json()["error"] == "stale_lease"
        forged = again["lease_id"][:-4] + "beef"
        response = await post_result(
            b, job_id=job_id, layout=layout, score=score, node_id="other", lease_id=forged
        )
        assert (response.status_code, response.json()["error"]) == (409, "unknown_lease")
        response = await post_result(
            b, job_id=job_id, layout=layout, score=score, node_id="other", lease_id="1.2.3"
        )
        assert (response.status_code, response.json()["error"]) == (422, "invalid_lease")
        accepted = await post_result(
            b,
            job_id=job_id,
            layout=layout,
            score=score,
            node_id="other",
            lease_id=again["lease_id"],
        )
        assert accepted.status_code == 200, accepted.text
        # The dead holder's resend of a layout already stored gets the stored answer.
        resent = await post_result(
            a,
            job_id=job_id,
            layout=layout,
            score=score,
            node_id="holder",
            lease_id=held[again["slot"]]["lease_id"],
        )
        assert resent.json() == accepted.json()
