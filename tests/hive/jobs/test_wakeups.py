"""Which events wake which waiting lease polls: only those the event may have given work."""

from __future__ import annotations

import gc
import json
from typing import Any

import pytest

from keyforge_hive.jobs.queue import EVERY_NODE, WorkSignal, woken_by
from keyforge_shared.events import sse_frame


def frame(kind: str, data: Any) -> bytes:
    payload = data if isinstance(data, bytes) else json.dumps(data).encode()
    return sse_frame(b"1-0", {b"type": kind.encode(), b"data": payload})


@pytest.mark.parametrize(
    ("kind", "data", "woken"),
    [
        ("job_status", {"job_id": "j", "status": "active", "previous": None}, EVERY_NODE),
        ("job_status", {"job_id": "j", "status": "active", "previous": "paused"}, EVERY_NODE),
        ("job_status", {"job_id": "j", "status": "paused", "previous": "active"}, None),
        ("job_status", {"job_id": "j", "status": "completed"}, None),
        ("fleet_freeze", {"active": True}, EVERY_NODE),
        ("fleet_freeze", {"active": False}, EVERY_NODE),
        ("node_status", {"node_id": "node-7", "status": "ready"}, "node-7"),
        ("node_status", {"node_id": "node-7", "status": "draining"}, None),
        ("node_status", {"node_id": "node-7", "status": "down"}, None),
        ("node_status", {"status": "ready"}, None),
        ("new_record", {"job_id": "j", "score": 1.0}, None),
        ("job_status", b"{not json", EVERY_NODE),
        ("node_status", b"[1, 2]", None),
    ],
)
def test_an_event_wakes_only_the_polls_it_may_have_given_work(
    kind: str, data: Any, woken: str | None
) -> None:
    assert woken_by(frame(kind, data)) == woken


async def test_a_node_is_woken_alone_and_everyone_on_a_broadcast() -> None:
    signal = WorkSignal()
    a, a_again, b = signal.armed("a"), signal.armed("a"), signal.armed("b")
    assert a is a_again  # one node's polls share an event
    signal.notify("a")
    assert a.is_set()
    assert not b.is_set()
    # A poll arming after the wake-up waits for the next one.
    assert not signal.armed("a").is_set()
    signal.notify("nobody-waits")
    signal.notify()
    assert b.is_set()


async def test_a_node_nobody_waits_for_leaves_nothing_behind() -> None:
    signal = WorkSignal()
    held = signal.armed("held")
    for i in range(1000):
        signal.armed(f"gone-{i}")
    gc.collect()
    assert list(signal._waiting) == ["held"]
    signal.notify()
    assert held.is_set()
    assert not signal._waiting
