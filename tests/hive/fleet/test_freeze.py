"""The dispatch freeze on two real hives: set through one, honoured by the other at once."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import asyncpg

from keyforge_shared.events import StreamEntries, decode_entries
from keyforge_shared.keys import Keys
from tests.hive.conftest import ADMIN_HEADERS, NODE_HEADERS, SYSTEM_ASSETS, HivePair
from tests.hive.jobs_support import (
    create_job,
    job_spec,
    layout_keys,
    lease,
    local_model,
    post_result,
    ready_node,
)
from tests.support import wait_until

NOTHING_FIELDS = ("job_id", "config", "lease_id", "lease_expires_at")


def empty(answer: dict[str, Any]) -> bool:
    """The contract's "nothing leasable": its four fields all null (extras may follow)."""
    return all(answer[name] is None for name in NOTHING_FIELDS)


async def freeze(hives: HivePair, **body: Any) -> dict[str, Any]:
    response = await hives.a.put("/fleet/freeze", json=body, headers=ADMIN_HEADERS)
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


async def freeze_events(hives: HivePair) -> list[dict[str, Any]]:
    raw = cast(StreamEntries, await hives.valkey.xrange(Keys().event_log()))
    return [e.data for e in decode_entries(raw) if e.type == "fleet_freeze"]


async def audit_actions(database_url: str) -> list[str]:
    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch(
            "SELECT action FROM audit_log WHERE target = 'fleet_freeze' ORDER BY audit_id"
        )
    finally:
        await conn.close()
    return [r["action"] for r in rows]


async def test_a_freeze_set_through_one_hive_answers_the_other_hives_waiting_poll_empty(
    hives: HivePair, system_assets: set[str]
) -> None:
    await ready_node(hives.b, "node-1")
    waiting = asyncio.create_task(lease(hives.b, "node-1", wait=15))
    await asyncio.sleep(0.3)  # the poll found nothing and waits
    assert not waiting.done()
    state = await freeze(hives, reason="maintenance")
    assert state["active"] is True
    assert state["until"] is None
    assert state["reason"] == "maintenance"
    assert state["set_by"] == "admin"
    # Answered at once, not at the end of its 15 s.
    assert empty(await asyncio.wait_for(waiting, 5))
    job_id = await create_job(hives.a, job_spec())
    assert empty(await lease(hives.b, "node-1"))
    assert empty(await lease(hives.a, "node-1"))
    public = (await hives.b.get("/fleet/freeze")).json()
    assert public["active"] is True
    assert public["reason"] == "maintenance"

    response = await hives.b.delete("/fleet/freeze", headers=ADMIN_HEADERS)
    assert (response.status_code, response.json()["active"]) == (200, False)
    assert (await lease(hives.b, "node-1"))["job_id"] == job_id
    assert [e["cause"] for e in await freeze_events(hives)] == ["set", "cleared"]
    assert await audit_actions(hives.database_url) == ["freeze.set", "freeze.clear"]


async def test_a_result_for_a_lease_taken_before_the_freeze_is_accepted(
    hives: HivePair, system_assets: set[str]
) -> None:
    spec = job_spec()
    job_id = await create_job(hives.a, spec)
    await ready_node(hives.a, "node-1")
    held = await lease(hives.a, "node-1")
    assert held["job_id"] == job_id
    await freeze(hives, reason="deploy")
    layout = layout_keys(SYSTEM_ASSETS, spec, "Qwerty")
    score = local_model(SYSTEM_ASSETS, spec).score(layout)
    response = await post_result(
        hives.b,
        job_id=job_id,
        layout=" ".join(layout),
        score=score,
        lease_id=held["lease_id"],
    )
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "accepted"


async def test_a_freeze_with_an_end_ends_by_itself_and_says_so_once(
    hives: HivePair, system_assets: set[str]
) -> None:
    job_id = await create_job(hives.a, job_spec())
    await ready_node(hives.b, "node-1")
    until = datetime.now(UTC) + timedelta(seconds=2)
    state = await freeze(hives, until=until.isoformat(), reason="short")
    assert datetime.fromisoformat(state["until"]) == until
    assert empty(await lease(hives.b, "node-1"))
    # A poll parked during the freeze is handed work when it ends, with no operator action.
    answer = await lease(hives.b, "node-1", wait=15)
    assert answer["job_id"] == job_id
    assert datetime.now(UTC) >= until
    assert (await hives.a.get("/fleet/freeze")).json()["active"] is False

    async def announced() -> bool:
        return [e["cause"] for e in await freeze_events(hives)] == ["set", "expired"]

    await wait_until(announced, timeout_s=10)
    await asyncio.sleep(1.5)  # both hives swept at least once more: still one "expired"
    assert await announced()
    assert await audit_actions(hives.database_url) == ["freeze.set", "freeze.expire"]


async def test_only_the_admin_sets_a_freeze_and_only_one_that_can_be_active(
    hives: HivePair,
) -> None:
    response = await hives.a.put("/fleet/freeze", json={"reason": "x"}, headers=NODE_HEADERS)
    assert response.status_code == 403
    response = await hives.a.delete("/fleet/freeze")
    assert response.status_code == 401
    past = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    response = await hives.a.put(
        "/fleet/freeze", json={"until": past, "reason": "x"}, headers=ADMIN_HEADERS
    )
    assert response.status_code == 422, response.text
    assert response.json()["fields"] == ["until"]
    response = await hives.a.put(
        "/fleet/freeze", json={"until": "soon", "reason": 3}, headers=ADMIN_HEADERS
    )
    assert response.status_code == 422
    assert response.json()["fields"] == ["reason", "until"]
    assert (await hives.b.get("/fleet/freeze")).json() == {
        "active": False,
        "until": None,
        "reason": None,
        "set_by": None,
        "set_at": None,
    }
