"""Node registration (and the claim of a node id) and the write shield in front of
``hardware_profiles``."""

from __future__ import annotations

import json
from dataclasses import dataclass

import asyncpg
from redis.asyncio import Redis

from keyforge_shared.keys import Keys
from keyforge_shared.protocol.nodes import NodeRegistration, Tuning

# Tuning thresholds of the original hive.
TABLE_STRATEGY_MIN_L2_KB = 1024
BIG_BATCH_MIN_OPS = 10_000_000


def tuning_for(reg: NodeRegistration) -> Tuning:
    return Tuning(
        strategy="table" if (reg.l2_cache_kb or 0) >= TABLE_STRATEGY_MIN_L2_KB else "fly",
        batch_size=50_000 if reg.ops_per_sec > BIG_BATCH_MIN_OPS else 10_000,
        thread_count=max(reg.cores - 1, 1),
    )


def cpu_signature(reg: NodeRegistration) -> str:
    """What makes two machines the same hardware profile."""
    return json.dumps([reg.arch, reg.cpu_model, reg.cores, reg.l2_cache_kb], separators=(",", ":"))


async def try_reserve_profile_update(
    valkey: Redis, keys: Keys, signature: str, window_s: int
) -> bool:
    """One ``SET NX EX``: only the winner, fleet-wide, writes this profile this window."""
    return bool(await valkey.set(keys.profile_lock(signature), b"1", nx=True, ex=window_s))


# One statement, so two first registrations of one id cannot both claim it:
# $10 the hash of a fresh token, kept only if the id is unclaimed; the update
# happens only for the id's own token ($11) or the admin ($12). No row back:
# the id belongs to another token.
UPSERT_NODE = """
INSERT INTO nodes (node_id, cpu_signature, cpu_model, cores, l2_cache_kb, ops_per_sec,
                   arch, ram_total_bytes, labels, status, token_hash)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb, 'ready', $10)
ON CONFLICT (node_id) DO UPDATE SET
    cpu_signature = EXCLUDED.cpu_signature, cpu_model = EXCLUDED.cpu_model,
    cores = EXCLUDED.cores, l2_cache_kb = EXCLUDED.l2_cache_kb,
    ops_per_sec = EXCLUDED.ops_per_sec, arch = EXCLUDED.arch,
    ram_total_bytes = EXCLUDED.ram_total_bytes, labels = EXCLUDED.labels,
    token_hash = COALESCE(nodes.token_hash, EXCLUDED.token_hash)
WHERE nodes.token_hash IS NULL OR nodes.token_hash = $11 OR $12
RETURNING drained, token_hash
"""

# The better measured speed wins; the node's own architecture is recorded.
UPSERT_PROFILE = """
INSERT INTO hardware_profiles (cpu_signature, cpu_model, arch, cores, l2_cache_kb,
                               verified_ops_per_sec)
VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT (cpu_signature) DO UPDATE SET
    arch = EXCLUDED.arch,
    verified_ops_per_sec = GREATEST(hardware_profiles.verified_ops_per_sec,
                                    EXCLUDED.verified_ops_per_sec),
    updated_at = now()
"""


@dataclass(frozen=True, slots=True)
class Stored:
    drained: bool
    token_hash: bytes  # the id's token hash, as stored
    claimed: bool  # this registration claimed the id (with the token offered)


async def store_registration(
    pool: asyncpg.Pool,
    valkey: Redis,
    keys: Keys,
    reg: NodeRegistration,
    *,
    window_s: int,
    offered_hash: bytes,
    presented_hash: bytes | None,
    admin: bool,
) -> Stored | None:
    """Upsert the node (and, behind the shield, its profile); None when the id is
    another token's. ``offered_hash`` is the hash of the token the id gets if unclaimed."""
    signature = cpu_signature(reg)
    row = await pool.fetchrow(
        UPSERT_NODE,
        reg.node_id,
        signature,
        reg.cpu_model,
        reg.cores,
        reg.l2_cache_kb,
        reg.ops_per_sec,
        reg.arch,
        reg.ram_total_bytes,
        reg.labels,
        offered_hash,
        presented_hash,
        admin,
    )
    if row is None:
        return None
    if await try_reserve_profile_update(valkey, keys, signature, window_s):
        await pool.execute(
            UPSERT_PROFILE,
            signature,
            reg.cpu_model,
            reg.arch,
            reg.cores,
            reg.l2_cache_kb,
            reg.ops_per_sec,
        )
    stored_hash = bytes(row["token_hash"])
    return Stored(row["drained"], stored_hash, stored_hash == offered_hash)


async def mark_registered(
    valkey: Redis, keys: Keys, node_id: str, *, drained: bool, token_hash: bytes
) -> None:
    """Make the node, and the hash its heartbeats must match, known to every hive's
    heartbeat path (this is also how a Valkey that lost its data learns it again)."""
    async with valkey.pipeline(transaction=True) as tx:
        tx.hset(keys.node_registry(), node_id, token_hash.hex())
        if drained:
            tx.sadd(keys.drained_nodes(), node_id)
        else:
            tx.srem(keys.drained_nodes(), node_id)
        await tx.execute()
