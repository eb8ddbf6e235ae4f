"""Fair shares: one node holds at most ``max_leases_per_node`` live leases (default 1),
and a result comes from a registered node, on a lease of its own."""

from __future__ import annotations

from tests.hive.conftest import ADMIN_HEADERS, SYSTEM_ASSETS, HivePair, node_headers
from tests.hive.jobs_support import (
    create_job,
    job_spec,
    layout_keys,
    lease,
    local_model,
    post_result,
    ready_node,
)


async def test_a_hog_polling_in_a_loop_leaves_work_for_the_others(
    hives: HivePair, system_assets: set[str]
) -> None:
    job_id = await create_job(hives.a, job_spec())  # 8 slots
    await ready_node(hives.a, "hog")
    await ready_node(hives.b, "fair")
    polls = [await lease(hives.a if i % 2 else hives.b, "hog", wait=0) for i in range(20)]
    granted = [p for p in polls if p["job_id"] is not None]
    assert len(granted) == 1, polls  # the default runtime cap: one live lease per node
    assert all(set(p.values()) == {None} for p in polls if p["job_id"] is None)
    second = await lease(hives.b, "fair", wait=0)
    assert second["job_id"] == job_id
    assert second["slot"] != granted[0]["slot"]


async def test_results_only_from_registered_nodes_on_their_own_leases(
    hives: HivePair, system_assets: set[str]
) -> None:
    spec = job_spec()
    job_id = await create_job(hives.a, spec)
    await ready_node(hives.a, "n1")
    await ready_node(hives.a, "n2")
    held = await lease(hives.b, "n1")
    keys = layout_keys(SYSTEM_ASSETS, spec, "Qwerty")
    body = {
        "job_id": job_id,
        "layout": " ".join(keys),
        "score": local_model(SYSTEM_ASSETS, spec).score(keys),
    }
    # An unregistered node id: refused even from the admin, who may act for any node.
    ghost = await hives.a.post("/results", json={**body, "node_id": "ghost"}, headers=ADMIN_HEADERS)
    assert (ghost.status_code, ghost.json()["error"]) == (404, "unknown_node")
    # n2 sending n1's lease as its own.
    stolen = await hives.b.post(
        "/results",
        json={**body, "node_id": "n2", "lease_id": held["lease_id"]},
        headers=node_headers("n2"),
    )
    assert (stolen.status_code, stolen.json()["error"]) == (403, "wrong_node")
    own = await post_result(hives.a, **body, node_id="n1", lease_id=held["lease_id"])
    assert own.status_code == 200, own.text
