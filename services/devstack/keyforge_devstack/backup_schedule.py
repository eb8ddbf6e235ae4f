"""``keyforge up --daily-backup``: one backup a day, in a thread beside the supervisor.

Each pass runs the operators' own ``keyforge backup`` (which reads
``backup_retention_days`` from the live settings and prunes older dumps), so
the supervisor and a person at the terminal make the very same backups.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

log = logging.getLogger("keyforge")

# Generous: a dump of a large fleet takes minutes; a hung pg_dump must not block the next day.
BACKUP_TIMEOUT_S = 3600.0


def newest_backup_at(directory: Path) -> datetime | None:
    """When the newest complete dump in ``directory`` was written (``keyforge backup`` names)."""
    dumps = list(directory.glob("keyforge-*.dump")) if directory.is_dir() else []
    if not dumps:
        return None
    return datetime.fromtimestamp(max(p.stat().st_mtime for p in dumps), UTC)


class DailyBackup:
    """The first runs at start-up unless the directory already holds a backup younger than a day
    (a restarted stack does not back up twice)."""

    def __init__(self, dsn: str, directory: Path, every: timedelta = timedelta(days=1)) -> None:
        self.dsn = dsn
        self.directory = directory
        self.every = every
        self.next_at: datetime | None = None
        self.thread: threading.Thread | None = None

    def tick(self, now: datetime | None = None) -> None:
        now = now or datetime.now(UTC)
        if self.thread is not None and self.thread.is_alive():
            return
        if self.next_at is None:
            newest_at = newest_backup_at(self.directory)
            self.next_at = newest_at + self.every if newest_at else now
        if now < self.next_at:
            return
        self.next_at = now + self.every
        self.thread = threading.Thread(target=self._run, name="daily-backup", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        command = [sys.executable, "-m", "keyforge_cli", "backup", "--out", str(self.directory)]
        # The DSN holds a password: through the environment, not the command line (ps shows it).
        env = {**os.environ, "DATABASE_URL": self.dsn}
        try:
            done = subprocess.run(
                command,
                env=env,
                capture_output=True,
                text=True,
                timeout=BACKUP_TIMEOUT_S,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            log.warning("daily backup failed: %s", exc)
            return
        if done.returncode != 0:
            # The next tick a day later tries again; the log says why this one failed.
            log.warning("daily backup failed: %s", done.stderr.strip()[-500:])
        else:
            log.info("daily backup: %s", done.stdout.strip()[-300:] or "done")

    def stop(self, grace_s: float = 60.0) -> None:
        if self.thread is not None:
            self.thread.join(grace_s)
