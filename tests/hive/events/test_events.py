from __future__ import annotations

import asyncio
import time
from typing import cast

from keyforge_shared.events import StreamEntries, publish_update
from keyforge_shared.keys import Keys
from tests.hive.conftest import ADMIN_HEADERS, HivePair, register
from tests.support import SseEvent, SseReader

keys = Keys()


async def drain_event(reader: SseReader) -> SseEvent:
    """The event of n1's drain. Only n1's registration may come first: it is
    announced in the background and can arrive after the stream opened."""
    while True:
        event = await reader.next_event(timeout_s=5)
        if event.data != {"node_id": "n1", "status": "ready"}:
            return event


async def test_a_drain_through_hive_b_reaches_a_client_of_hive_a(hives: HivePair) -> None:
    await register(hives.a, "n1")
    async with hives.a.stream("GET", "/events") as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        reader = SseReader(response)
        await asyncio.sleep(0.2)  # the subscription is live before anything is published
        started = time.perf_counter()
        drained = await hives.b.post("/nodes/n1/drain", headers=ADMIN_HEADERS)
        assert drained.json() == {"node_id": "n1", "status": "draining"}
        event = await drain_event(reader)
        latency_ms = (time.perf_counter() - started) * 1000
    print(f"drain on hive B -> SSE client on hive A: {latency_ms:.1f} ms (incl. the API call)")
    assert event.event == "node_status"
    assert event.data == {"node_id": "n1", "status": "draining"}
    assert event.id is not None


async def test_reconnect_with_last_event_id_replays_exactly_what_was_missed(
    hives: HivePair,
) -> None:
    await register(hives.a, "n1")
    async with hives.a.stream("GET", "/events") as response:
        reader = SseReader(response)
        await asyncio.sleep(0.2)
        await hives.b.post("/nodes/n1/drain", headers=ADMIN_HEADERS)
        last_seen = (await drain_event(reader)).id
    assert last_seen is not None
    missed = []
    for i in range(50):
        action = "undrain" if i % 2 == 0 else "drain"
        await hives.b.post(f"/nodes/n1/{action}", headers=ADMIN_HEADERS)
    entries = cast(StreamEntries, await hives.valkey.xrange(keys.event_log(), min=f"({last_seen}"))
    missed = [entry_id.decode() for entry_id, _ in entries]
    assert len(missed) == 50
    headers = {"Last-Event-ID": last_seen}
    async with hives.a.stream("GET", "/events", headers=headers) as response:
        replayed = await SseReader(response).events(50)
    assert [e.id for e in replayed] == missed
    assert [e.data["status"] for e in replayed] == ["ready", "draining"] * 25


async def test_a_gap_older_than_the_history_asks_for_resync(hives: HivePair) -> None:
    for i in range(5):
        await publish_update(hives.valkey, keys, "node_status", {"node_id": f"n{i}"})
    first = cast(StreamEntries, await hives.valkey.xrange(keys.event_log(), count=1))[0][0]
    await hives.valkey.xtrim(keys.event_log(), maxlen=2, approximate=False)
    async with hives.a.stream("GET", "/events", headers={"Last-Event-ID": first.decode()}) as r:
        event = await SseReader(r).next_event()
    assert event.event == "resync"


async def test_malformed_last_event_id_is_a_400_envelope(hives: HivePair) -> None:
    response = await hives.a.get("/events", headers={"Last-Event-ID": "yesterday"})
    assert response.status_code == 400
    assert response.json()["error"] == "bad_last_event_id"


async def test_a_client_that_stops_reading_is_dropped_without_slowing_others(
    hives: HivePair,
) -> None:
    host, port = str(hives.a.base_url).removeprefix("http://").rstrip("/").split(":")
    _, stalled = await asyncio.open_connection(host, int(port))
    stalled.write(f"GET /events HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
    await stalled.drain()  # ...and never read a byte of the answer
    pad = "x" * 8192
    total = 3000
    try:
        async with hives.a.stream("GET", "/events") as response:
            reader = SseReader(response)
            await asyncio.sleep(0.2)
            started = time.perf_counter()
            receiving = asyncio.create_task(reader.events(total, timeout_s=10))
            for start in range(0, total, 50):
                async with hives.valkey.pipeline(transaction=False) as pipe:
                    for i in range(start, start + 50):
                        data = f'{{"i":{i},"pad":"{pad}"}}'
                        pipe.xadd(keys.event_log(), {"type": "node_status", "data": data})
                    await pipe.execute()
                await asyncio.sleep(0.02)  # a brisk, steady rate: ~2 500 events/s, 20 MB/s
            received = await receiving
            elapsed = time.perf_counter() - started
        assert [e.data["i"] for e in received] == list(range(total))
        print(f"{total} events of 8 KiB reached the reading client in {elapsed:.2f}s")
        metrics = (await hives.a.get("/metrics")).text
        assert "keyforge_sse_clients_dropped_total 1\n" in metrics
    finally:
        stalled.close()
