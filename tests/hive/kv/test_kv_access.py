"""The KV access matrix, cell by cell: who may read and write which namespace."""

from __future__ import annotations

import pytest

from keyforge_shared.protocol import headers as wire
from tests.hive.conftest import ADMIN_HEADERS, NODE_HEADERS, HivePair, register
from tests.hive.kv_support import add_job, admin_put, job_id, lease, node_headers

J, K = job_id("job J"), job_id("job K")
# Caller -> its node id (None: the admin); headers once the fixture registered them.
CALLERS = {
    "admin": None,
    "node leasing J": "node-j",
    "node without lease": "node-idle",
    "node with an expired lease on J": "node-late",
    "node leasing K": "node-k",
}
NAMESPACES = {
    "vars J": f"vars/job/{J}",
    "secrets J": f"secrets/job/{J}",
    "vars K": f"vars/job/{K}",
    "secrets K": f"secrets/job/{K}",
    "vars fleet": "vars/fleet",
}
OK, NO = 200, 403
# (read, write) per caller and namespace; write covers PUT and DELETE.
MATRIX = {
    "admin": {ns: (OK, OK) for ns in NAMESPACES},
    "node leasing J": {
        "vars J": (OK, OK),
        "secrets J": (OK, NO),
        "vars K": (NO, NO),
        "secrets K": (NO, NO),
        "vars fleet": (NO, NO),
    },
    "node without lease": {ns: (NO, NO) for ns in NAMESPACES},
    "node with an expired lease on J": {ns: (NO, NO) for ns in NAMESPACES},
    "node leasing K": {
        "vars J": (NO, NO),
        "secrets J": (NO, NO),
        "vars K": (OK, OK),
        "secrets K": (OK, NO),
        "vars fleet": (NO, NO),
    },
}


@pytest.fixture
async def leased(hives: HivePair) -> HivePair:
    for node_id in CALLERS.values():
        if node_id is not None:
            await register(hives.a, node_id)
    for job in (J, K):
        await add_job(hives.database_url, job)
    await lease(hives.database_url, J, "node-j")
    await lease(hives.database_url, K, "node-k")
    await lease(hives.database_url, J, "node-late", seconds=-1)
    for namespace in NAMESPACES.values():
        await admin_put(hives.a, f"{namespace}/present", "v")
    return hives


async def test_the_access_matrix_holds_cell_by_cell(leased: HivePair) -> None:
    observed: dict[str, dict[str, tuple[int, int, int]]] = {}
    for caller, node_id in CALLERS.items():
        headers = node_headers(node_id) if node_id is not None else ADMIN_HEADERS
        observed[caller] = {}
        for label, namespace in NAMESPACES.items():
            client = leased.b if len(observed[caller]) % 2 else leased.a
            await admin_put(leased.a, f"{namespace}/present", "v")  # the last cell deleted it
            read = await client.get(f"/kv/{namespace}/present", headers=headers)
            listing = await client.get(f"/kv/{namespace}", headers=headers)
            assert read.status_code == listing.status_code, (caller, label)
            written = await client.put(
                f"/kv/{namespace}/written", json={"value": "x"}, headers=headers
            )
            deleted = await client.delete(f"/kv/{namespace}/present", headers=headers)
            observed[caller][label] = (read.status_code, written.status_code, deleted.status_code)
            if read.status_code == NO:
                assert read.json()["error"] == "kv_forbidden"
    expected = {
        caller: {label: (r, w, w) for label, (r, w) in cells.items()}
        for caller, cells in MATRIX.items()
    }
    assert observed == expected


async def test_a_node_never_sees_a_secret_value(leased: HivePair) -> None:
    path = f"/kv/secrets/job/{J}/present"
    plain = await leased.a.get(path, headers=node_headers("node-j"))
    assert plain.status_code == 200
    assert plain.json()["value"] is None
    assert plain.json()["secret"] is True
    revealed = await leased.a.get(f"{path}?reveal=true", headers=node_headers("node-j"))
    assert revealed.status_code == 403
    assert revealed.json()["error"] == "reveal_forbidden"
    assert (await leased.a.get(f"{path}?reveal=true", headers=ADMIN_HEADERS)).json()["value"] == "v"


async def test_a_node_is_who_its_token_says(leased: HivePair) -> None:
    path = f"/kv/vars/job/{J}/present"
    anonymous = await leased.a.get(path, headers=NODE_HEADERS)
    assert anonymous.status_code == 401
    assert anonymous.json()["error"] == "node_token_required"
    # node-idle's token claiming to be node-j, the leaseholder: refused, not served.
    posing = await leased.a.get(path, headers={**node_headers("node-idle"), wire.NODE_ID: "node-j"})
    assert posing.status_code == 403
    assert posing.json()["error"] == "wrong_node"
    # The token alone names the node: no header needed.
    own = {k: v for k, v in node_headers("node-j").items() if k != wire.NODE_ID}
    assert (await leased.a.get(path, headers=own)).status_code == 200
    assert (await leased.a.get(path)).status_code == 401


async def test_a_cancelled_job_gives_its_leaseholder_nothing(leased: HivePair) -> None:
    from tests.hive.kv_support import sql

    await sql(leased.database_url, "UPDATE jobs SET status = 'cancelled' WHERE job_id = $1", J)
    response = await leased.a.get(f"/kv/vars/job/{J}/present", headers=node_headers("node-j"))
    assert response.status_code == 403


async def test_the_namespace_list_is_for_admins(leased: HivePair) -> None:
    assert (await leased.a.get("/kv", headers=node_headers("node-j"))).status_code == 403
    listed = await leased.a.get("/kv", headers=ADMIN_HEADERS)
    assert {n["namespace"] for n in listed.json()["namespaces"]} == set(NAMESPACES.values())
