"""The five inputs that once answered 500, each now a 4xx in the contract's envelope.

``"²".isdigit()`` is true and ``int("²")`` raises; a NUL or a lone surrogate
is valid JSON that Postgres cannot store. Headers travel as latin-1 bytes, so
``b"\\xb2"`` is what a client sending ``²`` puts on the wire.
"""

from __future__ import annotations

import json

import httpx

from tests.hive.conftest import (
    ADMIN_HEADERS,
    NODE_HEADERS,
    HivePair,
    member_headers,
    registration,
)
from tests.hive.jobs_support import create_job, job_spec, post_result, ready_node


def _raw(headers: dict[str, str]) -> list[tuple[bytes, bytes]]:
    return [(name.encode(), value.encode()) for name, value in headers.items()]


def assert_envelope(response: httpx.Response, *statuses: int) -> None:
    assert response.status_code in statuses, response.text
    assert set(response.json()) >= {"error", "detail"}


async def test_unicode_digits_in_pinned_keys_are_a_422(
    hives: HivePair, system_assets: set[str]
) -> None:
    as_node = await member_headers(hives.a)
    for pinned in ("²:KC_Q", "\u0661:KC_Q", "9" * 20 + ":KC_Q"):
        response = await hives.a.post("/jobs", json=job_spec(pinned_keys=pinned), headers=as_node)
        assert_envelope(response, 422)


async def test_unstorable_registration_text_is_a_422(hives: HivePair) -> None:
    for fields in (
        {"cpu_model": "Ryzen\x00"},
        {"cpu_model": "\ud800"},
        {"arch": "x86\x00"},
        {"labels": {"site": "a\x00"}},
        {"labels": {"\udfff": "a"}},
    ):
        # json.dumps escapes NUL and surrogates, as a hostile client would send them.
        response = await hives.a.post(
            "/nodes/register", content=json.dumps(registration("node-1", **fields)).encode(),
            headers={**NODE_HEADERS, "Content-Type": "application/json"},
        )  # fmt: skip
        assert_envelope(response, 422)
    # Right-to-left marks and other odd but storable text are fine.
    ok = registration("node-1", cpu_model="\u202eRyzen\u200f ½")
    assert (await hives.a.post("/nodes/register", json=ok, headers=NODE_HEADERS)).status_code == 200


async def test_unicode_digit_if_match_is_a_400(hives: HivePair) -> None:
    current = (await hives.a.get("/settings", headers=ADMIN_HEADERS)).json()
    for tag in (b"\xb2", b'"\xb2"', b"9" * 20):
        response = await hives.a.put(
            "/settings", json=current, headers=[*_raw(ADMIN_HEADERS), (b"If-Match", tag)]
        )
        assert_envelope(response, 400)
        assert response.json()["error"] == "bad_if_match"


async def test_unicode_digit_lease_id_is_refused(hives: HivePair, system_assets: set[str]) -> None:
    job_id = await create_job(hives.a, job_spec())
    await ready_node(hives.a, "node-1")
    for lease_id in (
        "².1.0123456789abcdef",
        "0.\u0661.0123456789abcdef",
        "9" * 20 + ".1.0123456789ab",
    ):
        response = await post_result(
            hives.a, job_id=job_id, layout="KC_Q", score=1.0, lease_id=lease_id
        )
        assert_envelope(response, 409, 422)


async def test_unicode_digit_last_event_id_is_a_400(hives: HivePair) -> None:
    for last_id in (b"\xb2-0", "\u0661-1".encode(), b"9" * 20 + b"-0"):
        response = await hives.a.get("/events", headers={b"Last-Event-ID": last_id})
        assert_envelope(response, 400)


async def test_a_nul_in_a_config_group_is_a_422(hives: HivePair) -> None:
    # Found by the API fuzz: the group reached Postgres and failed there.
    for method in ("GET", "PUT", "DELETE"):
        body = {"thread_count": 2} if method == "PUT" else None
        response = await hives.a.request(
            method, "/fleet/config/groups/a%00b", json=body, headers=ADMIN_HEADERS
        )
        assert_envelope(response, 422)
