"""The client's event follower (``keyforge job watch``) resumes without losing an event."""

from __future__ import annotations

import asyncio

from keyforge_shared.client.event_stream import EventFollower, StreamEvent
from tests.hive.conftest import ADMIN_HEADERS, HivePair
from tests.hive.jobs_support import create_job, job_spec


async def job_events(follower: EventFollower, job_id: str, count: int) -> list[StreamEvent]:
    seen: list[StreamEvent] = []
    async with asyncio.timeout(15):
        async for event in follower.events():
            if isinstance(event.data, dict) and event.data.get("job_id") == job_id:
                seen.append(event)
                if len(seen) == count:
                    return seen
    raise AssertionError("the stream ended")


async def test_a_new_connection_resumes_after_the_last_event_seen(
    hives: HivePair, system_assets: set[str]
) -> None:
    job_id = await create_job(hives.a, job_spec())
    first = EventFollower(hives.a)
    reading = asyncio.create_task(job_events(first, job_id, 2))
    await asyncio.sleep(0.3)  # subscribed before the first change
    for action in ("pause", "resume"):
        reply = await hives.b.post(f"/jobs/{job_id}/{action}", headers=ADMIN_HEADERS)
        assert reply.status_code == 200
    before = await reading
    assert [e.data["status"] for e in before] == ["paused", "active"]

    # While nobody listens, three more changes; a follower on the other hive picks up there.
    for action in ("pause", "resume", "pause"):
        reply = await hives.a.post(f"/jobs/{job_id}/{action}", headers=ADMIN_HEADERS)
        assert reply.status_code == 200
    second = EventFollower(hives.b, last_event_id=first.last_event_id)
    after = await job_events(second, job_id, 3)
    assert [e.data["status"] for e in after] == ["paused", "active", "paused"]
    ids = [e.id for e in before + after]
    assert len(set(ids)) == len(ids)
