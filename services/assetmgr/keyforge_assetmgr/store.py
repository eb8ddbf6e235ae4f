"""Writing the asset store (layout in ``keyforge_shared.asset_store``).

Order of a publication: the bytes under their SHA-256, chunk by chunk, then
the blob marked complete, then the manifest entry swapped by one Lua script
(which also refuses to run unless this instance still holds the manager
lock and the new blob is complete), then the event. Reference counts and the
garbage set live in the same scripts, so a reader never finds a manifest
entry whose bytes are gone before the grace period ends.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import cast

from redis.asyncio import Redis
from redis.exceptions import ResponseError

from keyforge_shared.asset_store import CHUNK_SIZE, ManifestEntry, read_blob_info
from keyforge_shared.keys import Keys

# Chunks per pipeline round trip: 4 MiB in flight at most.
WRITE_BATCH = 16

# Every write script begins here: KEYS[1] is the manager lock, ARGV[1] this
# instance's token. A writer whose lock expired is fenced off even if it has
# not noticed yet.
_LOCK_FENCE = """\
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return redis.error_reply('LOCKLOST this asset manager is not the active one')
end
"""


def _fenced(body: str) -> str:
    return _LOCK_FENCE + body.lstrip("\n")


_SWAP = _fenced("""
if redis.call('HGET', KEYS[6], 'complete') ~= '1' then
  return redis.error_reply('NOBLOB content is not completely stored')
end
local old = redis.call('HGET', KEYS[2], ARGV[2])
local old_sha = false
if old then old_sha = cjson.decode(old)['sha256'] end
redis.call('HSET', KEYS[2], ARGV[2], ARGV[3])
if old_sha ~= ARGV[4] then
  redis.call('HINCRBY', KEYS[4], ARGV[4], 1)
  redis.call('ZREM', KEYS[5], ARGV[4])
  if old_sha and redis.call('HINCRBY', KEYS[4], old_sha, -1) <= 0 then
    redis.call('HDEL', KEYS[4], old_sha)
    redis.call('ZADD', KEYS[5], ARGV[5], old_sha)
  end
end
return redis.call('INCR', KEYS[3])
""")

_REMOVE = _fenced("""
local old = redis.call('HGET', KEYS[2], ARGV[2])
if not old then return false end
local old_sha = cjson.decode(old)['sha256']
redis.call('HDEL', KEYS[2], ARGV[2])
if redis.call('HINCRBY', KEYS[4], old_sha, -1) <= 0 then
  redis.call('HDEL', KEYS[4], old_sha)
  redis.call('ZADD', KEYS[5], ARGV[3], old_sha)
end
redis.call('INCR', KEYS[3])
return old_sha
""")

_COLLECT = _fenced("""
if tonumber(redis.call('HGET', KEYS[2], ARGV[2]) or '0') > 0 then
  redis.call('ZREM', KEYS[3], ARGV[2])
  return 0
end
local since = redis.call('ZSCORE', KEYS[3], ARGV[2])
if not since or tonumber(since) > tonumber(ARGV[3]) then return 0 end
for i = 4, #KEYS do redis.call('UNLINK', KEYS[i]) end
redis.call('ZREM', KEYS[3], ARGV[2])
return 1
""")


class LockLost(Exception):
    """Another instance is (or may be) the active manager: stop writing at once."""


class BlobVanished(Exception):
    """The content was collected (or Valkey lost it) between storing and swapping."""


@dataclass(frozen=True, slots=True)
class AssetStore:
    valkey: Redis
    keys: Keys
    token: str

    def _lock_failure(self, exc: ResponseError) -> Exception:
        text = str(exc)
        if "LOCKLOST" in text:
            return LockLost(text)
        if "NOBLOB" in text:
            return BlobVanished(text)
        return exc

    async def store_blob(self, sha256: str, data: bytes, content_type: str, now: float) -> None:
        """Put ``data`` under its hash unless it is already completely stored."""
        if await read_blob_info(self.valkey, self.keys, sha256) is not None:
            return
        chunks = math.ceil(len(data) / CHUNK_SIZE)
        blob = self.keys.asset_blob(sha256)
        async with self.valkey.pipeline(transaction=False) as pipe:
            # Listed as garbage while incomplete: an interrupted write is collected
            # later unless a manifest swap claims it first.
            pipe.zadd(self.keys.asset_garbage(), {sha256: now})
            pipe.hset(blob, mapping={"size": len(data), "chunk_size": CHUNK_SIZE,
                                     "chunks": chunks, "content_type": content_type,
                                     "complete": 0})  # fmt: skip
            await pipe.execute()
        view = memoryview(data)
        for start in range(0, chunks, WRITE_BATCH):
            async with self.valkey.pipeline(transaction=False) as pipe:
                for index in range(start, min(start + WRITE_BATCH, chunks)):
                    piece = view[index * CHUNK_SIZE : (index + 1) * CHUNK_SIZE]
                    pipe.set(self.keys.asset_chunk(sha256, index), bytes(piece))
                await pipe.execute()
        await self.valkey.hset(blob, "complete", 1)

    async def swap_entry(self, path: str, entry: ManifestEntry, now: float) -> int:
        """Point ``path`` at ``entry`` atomically; returns the new manifest version."""
        keys = self.keys
        try:
            version = await self.valkey.eval(
                _SWAP, 6, keys.asset_manager_lock(), keys.asset_manifest(), keys.asset_version(),
                keys.asset_refs(), keys.asset_garbage(), keys.asset_blob(entry.sha256),
                self.token, path, entry.to_json(), entry.sha256, now,
            )  # fmt: skip
        except ResponseError as exc:
            raise self._lock_failure(exc) from None
        return int(version)

    async def remove_entry(self, path: str, now: float) -> str | None:
        """Drop ``path`` from the manifest; returns the sha256 it pointed at, if any."""
        keys = self.keys
        try:
            old = await self.valkey.eval(
                _REMOVE, 5, keys.asset_manager_lock(), keys.asset_manifest(), keys.asset_version(),
                keys.asset_refs(), keys.asset_garbage(), self.token, path, now,
            )  # fmt: skip
        except ResponseError as exc:
            raise self._lock_failure(exc) from None
        return old.decode() if isinstance(old, bytes) else None

    async def collect_garbage(self, now: float, grace_s: float, limit: int = 100) -> int:
        """Delete content unreferenced for longer than ``grace_s``; returns how many."""
        cutoff = now - grace_s
        due = cast(
            list[bytes],
            await self.valkey.zrangebyscore(
                self.keys.asset_garbage(), "-inf", cutoff, start=0, num=limit
            ),
        )
        collected = 0
        for raw in due:
            sha256 = raw.decode()
            chunks = int(await self.valkey.hget(self.keys.asset_blob(sha256), "chunks") or 0)
            doomed = [self.keys.asset_blob(sha256)]
            doomed += [self.keys.asset_chunk(sha256, i) for i in range(chunks)]
            script_keys = [self.keys.asset_manager_lock(), self.keys.asset_refs(),
                           self.keys.asset_garbage(), *doomed]  # fmt: skip
            try:
                done = await self.valkey.eval(
                    _COLLECT, len(script_keys), *script_keys, self.token, sha256, cutoff
                )
            except ResponseError as exc:
                raise self._lock_failure(exc) from None
            collected += int(done)
        return collected

    async def ensure_epoch(self, fresh: str) -> str:
        """The manifest's epoch: kept while Valkey keeps it, ``fresh`` after a data loss."""
        await self.valkey.set(self.keys.asset_epoch(), fresh, nx=True)
        epoch = cast(bytes | None, await self.valkey.get(self.keys.asset_epoch()))
        return epoch.decode() if epoch else fresh

    async def has_epoch(self) -> bool:
        return bool(await self.valkey.exists(self.keys.asset_epoch()))

    async def manifest_shas(self) -> dict[str, str]:
        raw = cast(dict[bytes, bytes], await self.valkey.hgetall(self.keys.asset_manifest()))
        return {path.decode(): ManifestEntry.from_json(value).sha256 for path, value in raw.items()}
