"""Every Valkey key the fleet uses, built in one place.

Layout: ``<prefix><plane>:<name>[:<len>:<part>...]``.

* ``prefix`` (``kf:`` by default) lets two fleets share one server.
* ``plane`` says who may write the key, which is what the ACL users in
  ``infra/valkey/users.acl.template`` grant: ``fleet`` (hive), ``asset``
  (assetmgr writes, the gateway reads) and ``ev`` (the event log, written by
  the hives only; assetmgr's events go to its own asset stream, relayed).
* Components that come from outside (node ids, CPU signatures, asset paths)
  are length-prefixed, so the encoding is injective: reading the length,
  then exactly that many characters, recovers every part, and no two
  distinct inputs can yield one key whatever separators they contain.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

from keyforge_shared.strict_input import parse_uint

Plane = Literal["fleet", "asset", "ev"]
PLANES: Final[tuple[Plane, ...]] = ("fleet", "asset", "ev")
DEFAULT_PREFIX: Final = "kf:"


def _encode_part(value: str) -> str:
    return f"{len(value)}:{value}"


def build_key(prefix: str, plane: Plane, name: str, *parts: str) -> str:
    """The one function that formats a key string."""
    if plane not in PLANES:
        raise ValueError(f"unknown key plane {plane!r}")
    if not name or not all(c.isalnum() or c in "-_" for c in name):
        raise ValueError(f"key names are fixed identifiers, got {name!r}")
    encoded = "".join(":" + _encode_part(p) for p in parts)
    return f"{prefix}{plane}:{name}{encoded}"


def parse_key(prefix: str, key: str) -> tuple[Plane, str, tuple[str, ...]]:
    """Inverse of :func:`build_key`; raises ``ValueError`` on a foreign key."""
    if not key.startswith(prefix):
        raise ValueError("key does not carry this fleet's prefix")
    rest = key[len(prefix) :]
    plane, _, rest = rest.partition(":")
    if plane not in PLANES:
        raise ValueError(f"unknown key plane {plane!r}")
    name, sep, rest = rest.partition(":")
    parts: list[str] = []
    while sep:
        digits, sep, rest = rest.partition(":")
        length = parse_uint(digits, max_digits=9)
        if not sep or length is None:
            raise ValueError("malformed length prefix")
        if length > len(rest):
            raise ValueError("length prefix runs past the end of the key")
        parts.append(rest[:length])
        rest = rest[length:]
        if rest and not rest.startswith(":"):
            raise ValueError("part is not followed by a separator")
        sep, rest = rest[:1], rest[1:]
    return plane, name, tuple(parts)


@dataclass(frozen=True, slots=True)
class Keys:
    """Key builders bound to one fleet prefix."""

    prefix: str = DEFAULT_PREFIX

    # fleet plane: written by the hive only
    def heartbeat(self, node_id: str) -> str:
        return build_key(self.prefix, "fleet", "hb", node_id)

    def heartbeats(self, node_ids: list[str]) -> list[str]:
        """``heartbeat`` for many nodes at once (cluster stats reads 10 000 in one go),
        formatting exactly what ``build_key`` would."""
        head = build_key(self.prefix, "fleet", "hb")
        return [f"{head}:{len(node_id)}:{node_id}" for node_id in node_ids]

    def live_nodes(self) -> str:
        return build_key(self.prefix, "fleet", "live")

    def profile_lock(self, cpu_signature: str) -> str:
        return build_key(self.prefix, "fleet", "profile-lock", cpu_signature)

    def node_registry(self) -> str:
        """Hash of every node this fleet knows: node id -> registration time (ms)."""
        return build_key(self.prefix, "fleet", "nodes")

    def node_status(self) -> str:
        """Hash: node id -> the status last announced (ready, draining, down)."""
        return build_key(self.prefix, "fleet", "status")

    def drained_nodes(self) -> str:
        return build_key(self.prefix, "fleet", "drained")

    def pending_work_units(self) -> str:
        """Hash: node id -> work units (ips x live seconds) not yet added to Postgres."""
        return build_key(self.prefix, "fleet", "work-pending")

    def fleet_epoch(self) -> str:
        """Present while Valkey still holds the fleet's state; gone after a data loss."""
        return build_key(self.prefix, "fleet", "epoch")

    def job_queue(self) -> str:
        """Sorted set: leasable job id -> when a slot of it was last offered (ms): round robin."""
        return build_key(self.prefix, "fleet", "job-queue")

    def slot_mark(self, job_id: str, slot: int) -> str:
        """The in-flight mark of one job slot: the lease token, expiring with the lease."""
        return build_key(self.prefix, "fleet", "inflight", job_id, str(slot))

    def lease_expiries(self) -> str:
        """Sorted set: ``<slot>:<job id>`` -> when its lease ends (ms), to wake waiting polls."""
        return build_key(self.prefix, "fleet", "lease-expiry")

    def fleet_freeze(self) -> str:
        """The dispatch freeze, mirrored from Postgres for the lease path: present means
        frozen (seed 003: "key absent, not frozen"); a freeze with an end expires with it."""
        return build_key(self.prefix, "fleet", "freeze")

    def event_streams(self, client: str) -> str:
        """Sorted set: the open ``/events`` streams of one client address (or IPv6 /64),
        fleet-wide: stream token -> when its lease ends (ms). Each hive renews the
        leases of its own streams, so a hive that died frees its slots by itself."""
        return build_key(self.prefix, "fleet", "sse-streams", client)

    # asset plane: written by assetmgr, read by the gateway and the hive
    def asset_manifest(self) -> str:
        return build_key(self.prefix, "asset", "manifest")

    def asset_chunk(self, sha256: str, index: int) -> str:
        return build_key(self.prefix, "asset", "chunk", sha256, str(index))

    def asset_blob(self, sha256: str) -> str:
        """Hash describing one stored content: size, chunk size and count, completeness."""
        return build_key(self.prefix, "asset", "blob", sha256)

    def asset_version(self) -> str:
        """Counter bumped by every manifest change: readers compare it to refresh caches."""
        return build_key(self.prefix, "asset", "version")

    def asset_epoch(self) -> str:
        """Present while Valkey still holds the hydrated manifest; gone after a data loss."""
        return build_key(self.prefix, "asset", "epoch")

    def asset_refs(self) -> str:
        """Hash: sha256 -> how many manifest entries point at that content."""
        return build_key(self.prefix, "asset", "refs")

    def asset_garbage(self) -> str:
        """Sorted set: unreferenced sha256 -> when it lost its last reference (unix s)."""
        return build_key(self.prefix, "asset", "garbage")

    def asset_manager_lock(self) -> str:
        """Held by the one active assetmgr; its value is that instance's token."""
        return build_key(self.prefix, "asset", "manager-lock")

    def asset_events(self) -> str:
        """The asset manager's own stream of ``asset_update`` events: it may not write
        the event log, so the hives relay these into it (keyforge_hive.events.relay)."""
        return build_key(self.prefix, "asset", "events")

    # event plane: the shared event log, the hives' alone
    def event_log(self) -> str:
        return build_key(self.prefix, "ev", "log")

    def asset_events_relayed(self) -> str:
        """The id of the last ``asset_events`` entry copied into the event log."""
        return build_key(self.prefix, "ev", "asset-relayed")

    def runtime_settings(self) -> str:
        """The newest runtime settings with their version, written by the hives.

        In the event plane because every service must read it and the gateway
        may read nothing but the asset and event planes.
        """
        return build_key(self.prefix, "ev", "settings")

    def settings_channel(self) -> str:
        """Pub/sub channel announcing a settings change (payload as in ``runtime_settings``)."""
        return build_key(self.prefix, "ev", "settings-changed")
