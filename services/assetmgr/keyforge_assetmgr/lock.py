"""The manager lock: one active assetmgr per fleet, the others on standby.

The lock is a key holding the owner's random token with a TTL. Extending
and releasing compare the token on the server (``SET ... IFEQ`` and
``DELIFEQ``, Valkey 8.1+ and 9.0+), so an instance whose lock already
expired can never extend or free the lock a successor now holds. Every
manifest write re-checks the token inside its Lua script too (a fence).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Awaitable, Callable
from typing import Any, cast

from redis.asyncio import Redis
from redis.exceptions import RedisError

from keyforge_assetmgr.store import LockLost
from keyforge_shared.keys import Keys
from keyforge_shared.loops import run_every

log = logging.getLogger(__name__)


def _command(valkey: Redis) -> Callable[..., Awaitable[Any]]:
    """redis-py's untyped escape hatch, for commands it has no method for (IFEQ, DELIFEQ)."""
    return cast(Callable[..., Awaitable[Any]], valkey.execute_command)


def new_token() -> str:
    return secrets.token_hex(16)


async def try_acquire(valkey: Redis, keys: Keys, token: str, ttl_s: float) -> bool:
    return bool(await valkey.set(keys.asset_manager_lock(), token, nx=True, px=int(ttl_s * 1000)))


async def extend(valkey: Redis, keys: Keys, token: str, ttl_s: float) -> bool:
    reply = await _command(valkey)(
        "SET", keys.asset_manager_lock(), token, "IFEQ", token, "PX", int(ttl_s * 1000)
    )
    return reply is not None


async def release(valkey: Redis, keys: Keys, token: str) -> None:
    try:
        await _command(valkey)("DELIFEQ", keys.asset_manager_lock(), token)
    except RedisError as exc:
        # The lock expires by itself; a standby then waits out the TTL.
        log.warning("could not release the manager lock (%s)", type(exc).__name__)


async def keep_lock(valkey: Redis, keys: Keys, token: str, ttl_s: float) -> None:
    """Extend the lock every quarter TTL; raise LockLost once it is (or may be) gone.

    A tick loop (:func:`keyforge_shared.loops.run_every`) whose one fatal error
    is LockLost: an extension that fails is retried on the next tick, until
    the lock may have expired meanwhile.
    """
    loop = asyncio.get_running_loop()
    last_held = loop.time()

    async def extend_once() -> None:
        nonlocal last_held
        try:
            held = await extend(valkey, keys, token, ttl_s)
        except RedisError:
            if loop.time() - last_held > ttl_s * 0.75:
                raise LockLost("lock could not be extended before it expired") from None
            raise
        if not held:
            raise LockLost("lock is gone or held by another instance")
        last_held = loop.time()

    await asyncio.sleep(ttl_s / 4)  # just taken: the first extension is due in a quarter TTL
    await run_every("manager lock keeper", lambda: ttl_s / 4, extend_once, fatal=(LockLost,))
