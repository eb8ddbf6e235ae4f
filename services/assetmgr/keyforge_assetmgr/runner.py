"""The manager's life: standby until it holds the lock, then hydrate, watch and publish.

While active, three tasks run together and any of them ending ends the term:
the lock keeper (raises LockLost), the directory watcher (feeds changed
paths), and the one writer, which alone touches the store, so publications,
removals, garbage collection and re-hydration never interleave.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import watchfiles
from redis.asyncio import Redis
from redis.exceptions import RedisError

from keyforge_assetmgr.config import AssetMgrSettings
from keyforge_assetmgr.disk import is_ignored, relative_path
from keyforge_assetmgr.lock import keep_lock, new_token, release, try_acquire
from keyforge_assetmgr.publisher import Publisher
from keyforge_assetmgr.store import AssetStore, LockLost
from keyforge_shared.keys import Keys
from keyforge_shared.loops import consume, raise_if_cancelled

log = logging.getLogger(__name__)

# watchfiles groups a burst of events until this many ms pass without one...
WATCH_STEP_MS = 30
# ...but yields at least this often while events keep coming.
WATCH_DEBOUNCE_MS = 200
# The watcher sets up inotify when first iterated; give it that long before
# the first scan so no change falls between the scan and the watch.
WATCH_SETTLE_S = 0.2
RETRY_AFTER_ERROR_S = 1.0
# A full rescan heals whatever the OS watcher missed (queue overflow, a
# directory created and filled before its watch was added).
RESCAN_S = 60.0


@dataclass
class ManagerState:
    """What ``/health`` and the logs say about this instance."""

    role: str = "starting"
    terms: int = 0
    last_error: str | None = None
    token: str = field(default_factory=new_token)
    # Loop time of the active writer's last finished iteration (None while standing by):
    # a writer that stops finishing them is stuck, whatever the process says.
    writer_progress_at: float | None = None
    # Files whose handling failed unexpectedly, contained to that file, over all terms.
    file_failures: int = 0

    def writer_stalled_s(self, now: float, limit_s: float) -> float | None:
        """How long the active writer has made no progress, when that is over ``limit_s``."""
        if self.role != "active" or self.writer_progress_at is None:
            return None
        idle = now - self.writer_progress_at
        return idle if idle > limit_s else None


async def watch_directory(root: Path, changed: asyncio.Queue[str]) -> None:
    def wanted(_: watchfiles.Change, path: str) -> bool:
        rel = relative_path(root, path)
        return rel is not None and not is_ignored(rel)

    async for batch in watchfiles.awatch(
        root, watch_filter=wanted, step=WATCH_STEP_MS, debounce=WATCH_DEBOUNCE_MS
    ):
        for _, path in batch:
            rel = relative_path(root, path)
            if rel is not None:
                changed.put_nowait(rel)


@dataclass
class Writer:
    """The one task that writes the store; everything it does is due at some time."""

    publisher: Publisher
    settings: AssetMgrSettings
    state: ManagerState
    due: dict[str, float] = field(default_factory=dict)
    next_epoch_check: float = 0.0
    next_gc: float = 0.0
    next_rescan: float = 0.0

    async def run(self, changed: asyncio.Queue[str]) -> None:
        loop = asyncio.get_running_loop()
        await asyncio.sleep(WATCH_SETTLE_S)
        now = loop.time()
        await self.hydrate(now)
        self.progressed()
        self.next_epoch_check = now + self.settings.epoch_check_s
        self.next_gc = now + self.settings.gc_interval_s
        self.next_rescan = now + RESCAN_S
        await consume(
            "asset writer",
            lambda: self.step(changed),
            retry_s=RETRY_AFTER_ERROR_S,
            fatal=(LockLost,),
        )

    async def step(self, changed: asyncio.Queue[str]) -> None:
        """Wait for changes or the next due time, then do what is due.

        Valkey restarting, a disk hiccup: what was due is due again after
        ``RETRY_AFTER_ERROR_S`` (the loop waits that long), never lost.
        """
        await self.take_changes(changed)
        now = asyncio.get_running_loop().time()
        try:
            await self.iterate(now)
            self.progressed()
        except LockLost:
            raise
        except Exception:
            retry_at = now + RETRY_AFTER_ERROR_S
            self.due = {path: min(at, retry_at) for path, at in self.due.items()}
            self.next_epoch_check = min(self.next_epoch_check, retry_at)
            raise

    def progressed(self) -> None:
        self.state.writer_progress_at = asyncio.get_running_loop().time()
        self.state.file_failures += self.publisher.failures
        self.publisher.failures = 0

    async def hydrate(self, now: float) -> None:
        retry = await self.publisher.hydrate()
        self.due.update({path: now + delay for path, delay in retry.items()})

    async def take_changes(self, changed: asyncio.Queue[str]) -> None:
        """Wait for changed paths until the next due time; mark them due now."""
        loop = asyncio.get_running_loop()
        wake_at = min([self.next_epoch_check, self.next_gc, self.next_rescan, *self.due.values()])
        try:
            # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a
            # cancellation that arrives as the queue hands over an item.
            async with asyncio.timeout(max(wake_at - loop.time(), 0.0)):
                rel = await changed.get()
        except TimeoutError:
            return
        while True:
            now = loop.time()
            for path in self.publisher.affected_paths(rel):
                self.due[path] = min(self.due.get(path, now), now)
            try:
                rel = changed.get_nowait()
            except asyncio.QueueEmpty:
                return

    async def iterate(self, now: float) -> None:
        settings = self.settings
        if now >= self.next_epoch_check:
            self.next_epoch_check = now + settings.epoch_check_s
            if not await self.publisher.store.has_epoch():
                log.warning("asset epoch is gone: Valkey lost its data, re-hydrating")
                await self.hydrate(now)
        if now >= self.next_rescan:
            self.next_rescan = now + RESCAN_S
            await self.hydrate(now)
        for path in sorted(p for p, at in self.due.items() if at <= now):
            del self.due[path]
            delay = await self.publisher.reconcile(path)
            if delay is not None:
                self.due[path] = asyncio.get_running_loop().time() + delay
        if now >= self.next_gc:
            self.next_gc = now + settings.gc_interval_s
            collected = await self.publisher.store.collect_garbage(time.time(), settings.gc_grace_s)
            if collected:
                log.info("collected %d unreferenced contents", collected)


async def run_active_term(
    settings: AssetMgrSettings, valkey: Redis, keys: Keys, state: ManagerState
) -> None:
    """Hold the lock, watch the directory and write the store until one of them fails.

    Not a TaskGroup: on Python 3.11 a TaskGroup whose task raises while the
    group is being cancelled ends with that error and drops the cancellation,
    which would let a stopped manager carry on in the background.
    """
    publisher = Publisher(settings, AssetStore(valkey, keys, state.token))
    changed: asyncio.Queue[str] = asyncio.Queue()
    tasks = [
        asyncio.create_task(keep_lock(valkey, keys, state.token, settings.lock_ttl_s), name="lock"),
        asyncio.create_task(watch_directory(settings.assets_dir, changed), name="watch"),
        asyncio.create_task(Writer(publisher, settings, state).run(changed), name="writer"),
    ]
    # The term's start counts as progress: the first hydration has writer_stall_s to finish.
    state.writer_progress_at = asyncio.get_running_loop().time()
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.wait(tasks)
        # Read even when cancelled, so no error is reported as never retrieved.
        errors = {t.get_name(): t.exception() for t in tasks if not t.cancelled()}
    ended = next(iter(done)).get_name()
    error = errors.get(ended)
    if error is None:
        raise RuntimeError(f"the {ended} task of the active term stopped")
    raise error


async def run_manager(
    settings: AssetMgrSettings, valkey: Redis, keys: Keys, state: ManagerState
) -> None:
    """Until cancelled: take the lock when free, serve one active term, stand by otherwise.

    A consumer (:func:`keyforge_shared.loops.consume`) whose every pass ends
    with the standby pause, and whose failed passes wait that long too.
    """

    async def serve_or_stand_by() -> None:
        try:
            await _serve_one_term_or_stand_by(settings, valkey, keys, state)
        except LockLost:
            log.warning("lost the manager lock; standing by")
        except Exception as exc:
            state.last_error = type(exc).__name__
            raise
        raise_if_cancelled()  # a term that ended in LockLost as it was being cancelled
        await asyncio.sleep(settings.standby_poll_s)

    await consume("asset manager term", serve_or_stand_by, retry_s=settings.standby_poll_s)


async def _serve_one_term_or_stand_by(
    settings: AssetMgrSettings, valkey: Redis, keys: Keys, state: ManagerState
) -> None:
    if await try_acquire(valkey, keys, state.token, settings.lock_ttl_s):
        state.role = "active"
        state.terms += 1
        log.info("asset manager active (term %d)", state.terms)
        try:
            await run_active_term(settings, valkey, keys, state)
        finally:
            state.role = "standby"
            state.writer_progress_at = None
            # Never in place of what ended the term (a cancellation above all):
            # the lock expires by itself anyway.
            with contextlib.suppress(RedisError):
                await release(valkey, keys, state.token)
    elif state.role != "standby":
        state.role = "standby"
        log.info("another asset manager is active; standing by")
