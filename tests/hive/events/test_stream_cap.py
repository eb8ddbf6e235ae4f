"""One client address holds at most ``sse_streams_per_address`` event streams, fleet-wide.

Clients bind distinct loopback addresses (127.0.0.2, .3, ...), which the hives
see as distinct clients; streams of one address land on both hives.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import httpx
from redis.asyncio import Redis

from keyforge_hive.events.limits import StreamLeases, client_group
from keyforge_shared.keys import Keys
from tests.conftest import ValkeyFixture
from tests.hive.conftest import running_hives, set_runtime_settings
from tests.support import wait_until

CAP = 3


def client_at(base_url: str, address: str) -> httpx.AsyncClient:
    transport = httpx.AsyncHTTPTransport(local_address=address)
    return httpx.AsyncClient(base_url=base_url, transport=transport, timeout=10)


@contextlib.asynccontextmanager
async def open_stream(client: httpx.AsyncClient) -> AsyncIterator[httpx.Response]:
    async with client.stream("GET", "/events") as response:
        lines = response.aiter_lines()  # held: a dropped iterator would end the stream
        if response.status_code == 200:
            # The first line is written once the stream holds its slot.
            await anext(lines)
        else:
            await response.aread()
        yield response


async def test_an_address_at_its_cap_gets_429_on_every_hive_until_a_stream_ends(
    database_url: str, valkey: ValkeyFixture, valkey_admin: Redis
) -> None:
    await set_runtime_settings(database_url, sse_streams_per_address=CAP)
    async with running_hives(database_url, valkey) as (a, b), contextlib.AsyncExitStack() as stack:
        urls = [str(a.base_url), str(b.base_url)]
        crowd = [
            await stack.enter_async_context(client_at(urls[i % 2], "127.0.0.2"))
            for i in range(CAP + 2)
        ]
        streams = contextlib.AsyncExitStack()
        held = [await streams.enter_async_context(open_stream(c)) for c in crowd[:CAP]]
        assert [r.status_code for r in held] == [200] * CAP
        for client in crowd[CAP:]:  # one on each hive
            async with open_stream(client) as refused:
                assert refused.status_code == 429
                assert refused.headers["retry-after"].isdigit()
                assert refused.json()["error"] == "too_many_streams"
        for hive in (a, b):
            assert "keyforge_sse_refused_total 1\n" in (await hive.get("/metrics")).text

        # Another address is not affected.
        other = await stack.enter_async_context(client_at(urls[0], "127.0.0.3"))
        async with open_stream(other) as response:
            assert response.status_code == 200

        # A stream that ends gives its slot back.
        await streams.aclose()

        async def slot_free() -> bool:
            async with open_stream(crowd[CAP]) as response:
                return response.status_code == 200

        await wait_until(slot_free, timeout_s=10)


async def test_a_lease_nobody_renews_frees_its_slot(valkey_admin: Redis) -> None:
    # Another hive took the slots and died: its leases were never released.
    dead = StreamLeases(valkey_admin, Keys(), lease_ms=300)
    alive = StreamLeases(valkey_admin, Keys())
    assert await dead.take("10.0.0.7", cap=2) is not None
    assert await dead.take("10.0.0.7", cap=2) is not None
    assert await alive.take("10.0.0.7", cap=2) is None
    await asyncio.sleep(0.4)
    lease = await alive.take("10.0.0.7", cap=2)
    assert lease is not None
    # Renewed leases outlive their first term.
    alive.lease_ms = 300
    await alive.renew()
    ttl_ms = await valkey_admin.pttl(lease.key)
    assert 0 < ttl_ms <= 300


def test_ipv6_clients_count_per_64_and_mapped_ipv4_as_ipv4() -> None:
    assert client_group("2001:db8:1:2:aaaa::1") == client_group("2001:db8:1:2:bbbb::9")
    assert client_group("2001:db8:1:2::1") != client_group("2001:db8:1:3::1")
    assert client_group("::ffff:192.0.2.7") == "192.0.2.7"
    assert client_group("192.0.2.7") == "192.0.2.7"
    assert client_group(None) == "unknown"
