"""Asset bytes held in memory, keyed by their SHA-256 and bounded by total size.

Content-addressed bytes never change, so a cached copy is never stale: an
edit gives a new hash (and a new manifest entry), never new bytes for an old
hash. Concurrent misses for one hash share a single Valkey read, and every
filled copy is checked against its hash before it is kept or served.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections import OrderedDict

from redis.asyncio import Redis

from keyforge_shared.asset_store import AssetMissing, read_blob_info, read_chunks
from keyforge_shared.keys import Keys

# Hashing more than this in the event loop would stall other requests (~1 ms/MiB).
HASH_INLINE_BYTES = 1024 * 1024


def _sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class BlobCache:
    def __init__(self, valkey: Redis, keys: Keys, *, max_bytes: int, max_item_bytes: int) -> None:
        self.valkey = valkey
        self.keys = keys
        self.max_bytes = max_bytes
        self.max_item_bytes = min(max_item_bytes, max_bytes)
        self._items: OrderedDict[str, bytes] = OrderedDict()
        self._size = 0
        self._loading: dict[str, asyncio.Future[bytes]] = {}

    def holds(self, size: int) -> bool:
        """Whether content of this size is served from memory (else streamed)."""
        return size <= self.max_item_bytes

    def get(self, sha256: str) -> bytes | None:
        data = self._items.get(sha256)
        if data is not None:
            self._items.move_to_end(sha256)
        return data

    async def load(self, sha256: str) -> bytes:
        """The whole content, from memory or from Valkey (AssetMissing if it is gone)."""
        cached = self.get(sha256)
        if cached is not None:
            return cached
        pending = self._loading.get(sha256)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self._loading[sha256] = future
        try:
            data = await self._fetch(sha256)
        except BaseException as exc:
            if isinstance(exc, asyncio.CancelledError):
                future.cancel()
            else:
                future.set_exception(exc)
                future.exception()  # marks it retrieved: there may be no waiter
            raise
        finally:
            del self._loading[sha256]
        future.set_result(data)
        self._keep(sha256, data)
        return data

    async def _fetch(self, sha256: str) -> bytes:
        info = await read_blob_info(self.valkey, self.keys, sha256)
        if info is None:
            raise AssetMissing(f"no stored content {sha256}")
        parts = [c async for c in read_chunks(self.valkey, self.keys, sha256, range(info.chunks))]
        data = b"".join(parts)
        if len(data) > HASH_INLINE_BYTES:
            digest = await asyncio.to_thread(_sha256_hex, data)
        else:
            digest = _sha256_hex(data)
        if digest != sha256:
            raise AssetMissing(f"content {sha256} does not match its hash")
        return data

    def _keep(self, sha256: str, data: bytes) -> None:
        if len(data) > self.max_item_bytes or sha256 in self._items:
            return
        self._items[sha256] = data
        self._size += len(data)
        while self._size > self.max_bytes:
            _, evicted = self._items.popitem(last=False)
            self._size -= len(evicted)
