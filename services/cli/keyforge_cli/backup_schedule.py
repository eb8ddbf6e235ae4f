"""``keyforge up --daily-backup``: one backup a day, in a thread beside the supervisor."""

from __future__ import annotations

import asyncio
import logging
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

from keyforge_cli.backups import (
    DEFAULT_RETENTION_DAYS,
    BackupResult,
    backup_time,
    list_backups,
    live_backup_retention,
    run_backup,
)

log = logging.getLogger("keyforge")


class DailyBackup:
    """``keyforge up --daily-backup``: one backup a day, in a thread beside the supervisor.

    The first runs at start-up unless the directory already holds a backup
    younger than a day (a restarted stack does not back up twice), and each
    pass reads ``backup_retention_days`` from the live settings.
    """

    def __init__(self, dsn: str, directory: Path, every: timedelta = timedelta(days=1)) -> None:
        self.dsn = dsn
        self.directory = directory
        self.every = every
        self.next_at: datetime | None = None
        self.thread: threading.Thread | None = None
        self.last: BackupResult | None = None

    def tick(self, now: datetime | None = None) -> None:
        now = now or datetime.now(UTC)
        if self.thread is not None and self.thread.is_alive():
            return
        if self.next_at is None:
            newest = list_backups(self.directory)
            newest_at = backup_time(newest[-1]) if newest else None
            self.next_at = newest_at + self.every if newest_at else now
        if now < self.next_at:
            return
        self.next_at = now + self.every
        self.thread = threading.Thread(target=self._run, name="daily-backup", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            retention = asyncio.run(live_backup_retention(self.dsn)) or DEFAULT_RETENTION_DAYS
            self.last = run_backup(self.dsn, self.directory, retention_days=retention)
            log.info(
                "daily backup %s (%d bytes, %.1fs)",
                self.last.path.name,
                self.last.bytes,
                self.last.seconds,
            )
        except Exception as exc:
            # The next tick a day later tries again; the log says why this one failed.
            log.warning("daily backup failed: %s", exc)

    def stop(self, grace_s: float = 60.0) -> None:
        if self.thread is not None:
            self.thread.join(grace_s)
