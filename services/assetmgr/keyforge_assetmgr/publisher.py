"""Bringing one path (or the whole directory) in line with what the store serves.

A valid file is published and announced as ``asset_update`` with action
``put``; a vanished one is removed and announced with ``delete``. A file that
fails its check keeps the last valid version served and is reported once, as a
warning in the log naming the reason and the version still served; it is not
announced, since ``asset_update`` means the served content changed.

Whatever else goes wrong with one file (a validator bug, an odd error from
the disk) is contained to that file the same way, and counted: the other files
still publish. Only the store's own failures (Valkey, the lock) end the pass,
since then no file can be published.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from redis.exceptions import RedisError

from keyforge_assetmgr.config import AssetMgrSettings
from keyforge_assetmgr.disk import Refused, Unsettled, is_ignored, list_asset_files, read_settled
from keyforge_assetmgr.kinds import content_type_of, kind_of, validate
from keyforge_assetmgr.lock import new_token
from keyforge_assetmgr.store import AssetStore, BlobVanished, LockLost
from keyforge_shared.asset_store import ManifestEntry
from keyforge_shared.events import publish_asset_update
from keyforge_shared.formats import FormatError

log = logging.getLogger(__name__)


class CheckFailed(Exception):
    """The file's check itself broke (not the file's format): counted as a failure."""


def _checked(settings: AssetMgrSettings, rel: str, data: bytes) -> tuple[str, str | None]:
    """(sha256, why it is invalid or None). CPU-bound: runs in a worker thread."""
    sha256 = hashlib.sha256(data).hexdigest()
    kind = kind_of(rel)
    if kind.is_json and len(data) > settings.max_json_bytes:
        return sha256, f"{len(data)} bytes is over the {settings.max_json_bytes}-byte JSON limit"
    try:
        validate(kind, rel, data)
    except FormatError as exc:
        return sha256, str(exc)
    except Exception as exc:  # a validator bug: this file's failure, not the pass's
        raise CheckFailed(f"its check failed ({type(exc).__name__})") from exc
    return sha256, None


@dataclass
class Publisher:
    settings: AssetMgrSettings
    store: AssetStore
    # What the manifest serves, mirrored so unchanged files cost no Valkey write.
    served: dict[str, str] = field(default_factory=dict)
    # path -> the rejected content (sha256 or reason) last announced, to announce once.
    rejected: dict[str, str] = field(default_factory=dict)
    # Files whose handling failed unexpectedly (contained, logged): a count for health.
    failures: int = 0

    async def hydrate(self) -> dict[str, float]:
        """Publish the whole directory; returns paths to look at again (still being written)."""
        self.served = await self.store.manifest_shas()
        root = self.settings.assets_dir
        on_disk = await asyncio.to_thread(list_asset_files, root)
        retry: dict[str, float] = {}
        for rel in on_disk:
            delay = await self.reconcile(rel)
            if delay is not None:
                retry[rel] = delay
        for rel in sorted(set(self.served) - set(on_disk)):
            await self._remove(rel)
        # The epoch last: it says "this manifest is whole". After a data loss it
        # stays absent until every file is back, so readers (the hive) answer
        # "recovering, retry" rather than "no such asset" in between; it only
        # ever changes when Valkey lost the previous one.
        epoch = await self.store.ensure_epoch(new_token())
        log.info("hydrated %d assets (epoch %s)", len(self.served), epoch)
        return retry

    def affected_paths(self, rel: str) -> set[str]:
        """A changed path, or every file a changed directory holds or held."""
        below = {p for p in self.served if p.startswith(rel + "/")}
        full = self.settings.assets_dir / rel
        if full.is_dir() and not full.is_symlink():
            return below | set(list_asset_files(self.settings.assets_dir, rel))
        return below | {rel}

    async def reconcile(self, rel: str) -> float | None:
        """Publish, remove or reject ``rel``; returns seconds to wait when it is unsettled.

        Raises only the store's errors; anything else is this file's alone, so it
        is rejected (last valid version still served) and the next rescan retries.
        """
        try:
            return await self._reconcile(rel)
        except (RedisError, LockLost):
            raise
        except Exception as exc:
            self.failures += 1
            reason = str(exc) if isinstance(exc, CheckFailed) else type(exc).__name__
            log.warning("asset %s could not be handled: %s (%d so far)", rel, reason, self.failures)
            await self._reject(rel, None, f"failed unexpectedly: {reason}")
            return None

    async def _reconcile(self, rel: str) -> float | None:
        if is_ignored(rel):
            return None
        settings = self.settings
        try:
            data = await asyncio.to_thread(
                read_settled,
                settings.assets_dir,
                rel,
                max_bytes=settings.max_file_bytes,
                settle_s=settings.settle_s,
            )
        except Unsettled as exc:
            return exc.retry_after_s
        except Refused as exc:
            await self._reject(rel, None, str(exc))
            return None
        if data is None:
            await self._remove(rel)
            return None
        sha256, problem = await asyncio.to_thread(_checked, settings, rel, data)
        if problem is not None:
            await self._reject(rel, sha256, problem)
            return None
        self.rejected.pop(rel, None)
        if self.served.get(rel) != sha256:
            await self._publish(rel, sha256, data)
        return None

    async def _publish(self, rel: str, sha256: str, data: bytes) -> None:
        now = time.time()
        content_type = content_type_of(rel)
        entry = ManifestEntry(
            sha256=sha256,
            size=len(data),
            content_type=content_type,
            updated_at=datetime.fromtimestamp(now, UTC).isoformat(timespec="milliseconds"),
        )
        await self.store.store_blob(sha256, data, content_type, now)
        try:
            version = await self.store.swap_entry(rel, entry, now)
        except BlobVanished:
            # Collected between the existence check and the swap: store it again.
            await self.store.store_blob(sha256, data, content_type, now)
            version = await self.store.swap_entry(rel, entry, now)
        self.served[rel] = sha256
        log.info("published %s (%d bytes, %s)", rel, len(data), sha256[:12])
        await self._announce(
            {"path": rel, "sha256": sha256, "action": "put", "size": len(data), "version": version}
        )

    async def _remove(self, rel: str) -> None:
        if rel not in self.served:
            return
        old = await self.store.remove_entry(rel, time.time())
        self.served.pop(rel, None)
        self.rejected.pop(rel, None)
        if old is not None:
            log.info("removed %s", rel)
            await self._announce({"path": rel, "sha256": old, "action": "delete"})

    async def _reject(self, rel: str, sha256: str | None, reason: str) -> None:
        content = sha256 or reason
        if self.rejected.get(rel) == content:
            return
        self.rejected[rel] = content
        served = self.served.get(rel)
        log.warning(
            "asset %s refused: %s; still serving %s", rel, reason, served[:12] if served else "none"
        )

    async def _announce(self, data: dict[str, Any]) -> None:
        await publish_asset_update(self.store.valkey, self.store.keys, data)
