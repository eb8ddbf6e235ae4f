"""How many ``/events`` streams one client address may hold, counted fleet-wide.

Each open stream costs the ingress a thread for as long as it lasts
(infra/apache/README.md), so one address must not be able to take them all.
Apache in Debian ships no per-address limiter, and a stream may land on any
hive, so the count lives in Valkey: per address a sorted set of stream leases
(token -> expiry, by the server's clock). Taking a slot first drops expired
leases, then adds one only under the cap, in one script. The hive that serves
a stream renews its lease every ``RENEW_S`` and removes it when the stream ends;
a hive that dies without removing its leases loses them ``LEASE_MS`` later,
so a crash never pins an address at its cap (a plain counter would).
"""

from __future__ import annotations

import ipaddress
import secrets
from dataclasses import dataclass, field

from redis.asyncio import Redis

from keyforge_shared.keys import Keys
from keyforge_shared.lua import with_server_now

LEASE_MS = 30_000
RENEW_S = 10.0  # three renewals per lease: one lost to a Valkey blip costs nothing
IPV6_GROUP = 64  # one subscriber's IPv6 allocation is a /64 at least

# KEYS[1] the address's leases; ARGV: token, cap, lease ms. 1 taken, 0 at the cap.
TAKE_SCRIPT = with_server_now("""
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then
  return 0
end
local lease = tonumber(ARGV[3])
redis.call('ZADD', KEYS[1], now + lease, ARGV[1])
redis.call('PEXPIRE', KEYS[1], lease)
return 1
""")

# KEYS: the leases' sets; ARGV: lease ms, then one token per key. A lease that
# vanished (Valkey lost its data) is put back: its stream is still open.
RENEW_SCRIPT = with_server_now("""
local lease = tonumber(ARGV[1])
for i, key in ipairs(KEYS) do
  redis.call('ZADD', key, now + lease, ARGV[i + 1])
  redis.call('PEXPIRE', key, lease)
end
return #KEYS
""")


def client_group(address: str | None) -> str:
    """What the cap counts by: the IPv4 address, or the /64 of an IPv6 one."""
    if not address:
        return "unknown"
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, IPV6_GROUP), strict=False))
    return str(ip)


@dataclass(frozen=True, slots=True)
class Lease:
    key: str
    token: str


@dataclass
class StreamLeases:
    """The leases of this hive's open streams; ``renew`` is its background loop."""

    valkey: Redis
    keys: Keys
    lease_ms: int = LEASE_MS
    held: set[Lease] = field(default_factory=set)
    refused: int = 0

    def __post_init__(self) -> None:
        self._take = self.valkey.register_script(TAKE_SCRIPT)
        self._renew = self.valkey.register_script(RENEW_SCRIPT)

    async def take(self, address: str | None, cap: int) -> Lease | None:
        """A slot for one more stream of ``address``, or None when it holds ``cap``.

        Raises the Valkey client's errors when the store does not answer."""
        lease = Lease(self.keys.event_streams(client_group(address)), secrets.token_hex(8))
        if not await self._take(keys=[lease.key], args=[lease.token, cap, self.lease_ms]):
            self.refused += 1
            return None
        self.held.add(lease)
        return lease

    async def release(self, lease: Lease) -> None:
        self.held.discard(lease)
        await self.valkey.zrem(lease.key, lease.token)

    async def renew(self) -> None:
        """Extend every lease this hive holds, in one script call."""
        held = list(self.held)
        if held:
            await self._renew(
                keys=[lease.key for lease in held],
                args=[self.lease_ms, *(lease.token for lease in held)],
            )
