"""How system assets sit in Valkey, and how readers (gateway, hive) get them back.

Content-addressed: the bytes of every version live under their SHA-256 in
fixed-size chunks (``asset_chunk``), described by a blob hash
(``asset_blob``); the manifest hash maps a path to a JSON entry naming the
sha256. assetmgr writes bytes first and swaps the manifest entry afterwards,
so any entry a reader sees points at complete bytes that hash to its ETag.
Only assetmgr writes (``keyforge_assetmgr.store``); this module only reads.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator, Mapping
from dataclasses import asdict, dataclass
from typing import Any, Final, cast

from redis.asyncio import Redis

from keyforge_shared.asset_paths import is_safe_asset_path
from keyforge_shared.keys import Keys

# 256 KiB: big enough that a 5 MB corpus is 20 round trips, small enough that a
# streaming reader holds little and one SET never stalls Valkey.
CHUNK_SIZE: Final = 256 * 1024


class AssetMissing(LookupError):
    """No manifest entry for a path, or its bytes are gone (data loss, collected)."""


@dataclass(frozen=True, slots=True)
class ManifestEntry:
    sha256: str
    size: int
    content_type: str
    updated_at: str  # ISO 8601, UTC

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def from_json(cls, raw: bytes | str) -> ManifestEntry:
        data = json.loads(raw)
        return cls(
            sha256=str(data["sha256"]),
            size=int(data["size"]),
            content_type=str(data["content_type"]),
            updated_at=str(data["updated_at"]),
        )


@dataclass(frozen=True, slots=True)
class BlobInfo:
    size: int
    chunk_size: int
    chunks: int
    content_type: str

    def chunk_span(self, first_byte: int, last_byte: int) -> range:
        """Indexes of the chunks holding bytes ``first_byte..last_byte`` (inclusive)."""
        return range(first_byte // self.chunk_size, last_byte // self.chunk_size + 1)


@dataclass(frozen=True, slots=True)
class ManifestSnapshot:
    epoch: str | None
    version: int
    entries: Mapping[str, ManifestEntry]

    def document(self) -> dict[str, Any]:
        """The contract's ``GET /manifest`` body."""
        paths = sorted(self.entries)
        return {
            "epoch": self.epoch,
            "version": self.version,
            "files": {p: self.entries[p].sha256 for p in paths},
            "entries": {p: asdict(self.entries[p]) for p in paths},
        }


def _text(raw: bytes | str | None) -> str | None:
    return raw.decode() if isinstance(raw, bytes) else raw


async def read_version(valkey: Redis, keys: Keys) -> tuple[str | None, int]:
    """(epoch, version): two cheap GETs that tell whether a cached manifest is current."""
    epoch, version = await valkey.mget([keys.asset_epoch(), keys.asset_version()])
    return _text(epoch), int(version or 0)


async def read_manifest_snapshot(valkey: Redis, keys: Keys) -> ManifestSnapshot:
    # Version first: the entries read after it are at least that new, so a
    # cache keyed by this version can only be refreshed too often, never too late.
    epoch, version = await read_version(valkey, keys)
    raw = await valkey.hgetall(keys.asset_manifest())
    entries = {_text(path) or "": ManifestEntry.from_json(value) for path, value in raw.items()}
    return ManifestSnapshot(epoch, version, entries)


async def read_manifest(valkey: Redis, keys: Keys) -> dict[str, Any]:
    """The manifest document, for any service answering ``/manifest``."""
    return (await read_manifest_snapshot(valkey, keys)).document()


async def read_entry(valkey: Redis, keys: Keys, path: str) -> ManifestEntry:
    if not is_safe_asset_path(path):
        raise AssetMissing(f"{path!r} is not an asset path")
    raw = await valkey.hget(keys.asset_manifest(), path)
    if raw is None:
        raise AssetMissing(f"no asset at {path!r}")
    return ManifestEntry.from_json(raw)


async def read_blob_info(valkey: Redis, keys: Keys, sha256: str) -> BlobInfo | None:
    """The blob's layout, or None unless its bytes are completely stored."""
    raw = await valkey.hgetall(keys.asset_blob(sha256))
    fields = {_text(k): _text(v) for k, v in raw.items()}
    if fields.get("complete") != "1":
        return None
    return BlobInfo(
        size=int(fields["size"] or 0),
        chunk_size=int(fields["chunk_size"] or CHUNK_SIZE),
        chunks=int(fields["chunks"] or 0),
        content_type=fields.get("content_type") or "application/octet-stream",
    )


async def read_chunks(
    valkey: Redis, keys: Keys, sha256: str, indexes: range, batch: int = 8
) -> AsyncIterator[bytes]:
    """Chunks in order, a few per round trip; AssetMissing if one has vanished."""
    for start in range(indexes.start, indexes.stop, batch):
        names = [
            keys.asset_chunk(sha256, i) for i in range(start, min(start + batch, indexes.stop))
        ]
        for chunk in cast(list[bytes | None], await valkey.mget(names)):
            if chunk is None:
                raise AssetMissing(f"content {sha256} lost a chunk")
            yield chunk


async def read_blob(valkey: Redis, keys: Keys, sha256: str) -> bytes:
    """Whole content, verified against its hash (for loaders that hold it anyway)."""
    info = await read_blob_info(valkey, keys, sha256)
    if info is None:
        raise AssetMissing(f"no stored content {sha256}")
    data = b"".join([c async for c in read_chunks(valkey, keys, sha256, range(info.chunks))])
    if hashlib.sha256(data).hexdigest() != sha256:
        raise AssetMissing(f"content {sha256} does not match its hash")
    return data


async def read_asset(valkey: Redis, keys: Keys, path: str) -> bytes:
    """The bytes the manifest currently serves at ``path``."""
    entry = await read_entry(valkey, keys, path)
    return await read_blob(valkey, keys, entry.sha256)
