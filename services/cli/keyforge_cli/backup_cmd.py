"""``keyforge backup`` and ``keyforge restore FILE`` (the mechanics are in ``backups``)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from keyforge_cli.backups import (
    DEFAULT_RETENTION_DAYS,
    BackupError,
    count_table_data,
    count_tables,
    list_backups,
    live_backup_retention,
    prepare_empty_database,
    run_backup,
    run_restore,
)
from keyforge_cli.operator_target import (
    OperatorError,
    add_database_arguments,
    data_dir,
    database_name,
    database_role,
    database_url,
)

BACKUPS_DIR = "backups"


def backups_dir(args: argparse.Namespace) -> Path:
    return Path(args.out).resolve() if args.out else data_dir(args) / BACKUPS_DIR


def _progress(console: Console) -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("[dim]{task.fields[table]}"),
        TimeElapsedColumn(),
        console=console,
    )


def _size(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"


def run_backup_command(args: argparse.Namespace) -> int:
    dsn = database_url(args, owner=True)  # whatever tables the app role may not read, too
    console = Console(stderr=True)
    try:
        retention = args.retention_days or asyncio.run(live_backup_retention(dsn))
        retention = retention or DEFAULT_RETENTION_DAYS
        tables = asyncio.run(count_tables(dsn))
        with _progress(console) as bar:
            task = bar.add_task("pg_dump", total=tables, table="")
            result = run_backup(
                dsn,
                backups_dir(args),
                retention_days=retention,
                progress=lambda name: bar.update(task, advance=1, table=name),
            )
            bar.update(task, completed=tables, table="")
    except (BackupError, OSError) as exc:
        raise OperatorError(f"backup failed: {exc}") from None
    console.print(
        f"backup {result.path} ({_size(result.bytes)}) in {result.seconds:.1f}s; "
        f"keeping {retention} days, removed {len(result.pruned)} older backup(s)",
        highlight=False,
    )
    print(result.path)
    return 0


def run_restore_command(args: argparse.Namespace) -> int:
    dsn = database_url(args, owner=True)  # restoring creates the schema
    # The role the hives serve with; the final migration grants it its DML.
    app_role = database_role(database_url(args))
    console = Console(stderr=True)
    path = Path(args.file)
    if args.file == "latest":
        found = list_backups(backups_dir(args))
        if not found:
            raise OperatorError(f"no backups in {backups_dir(args)}")
        path = found[-1]
    # Alembic narrates every plugin it loads at INFO; the progress bar says enough.
    logging.getLogger("alembic").setLevel(logging.WARNING)
    try:
        if not path.is_file():
            raise BackupError(f"{path} does not exist")
        tables = count_table_data(path)
        asyncio.run(prepare_empty_database(dsn))  # refuse before drawing anything
        with _progress(console) as bar:
            task = bar.add_task(f"restore into {database_name(dsn)}", total=tables, table="")
            seconds = run_restore(
                path,
                dsn,
                app_role=app_role,
                progress=lambda name: bar.update(task, advance=1, table=name),
            )
            bar.update(task, table="")
    except subprocess.CalledProcessError:
        raise OperatorError(f"restore failed: {path} is not a readable pg_dump backup") from None
    except (BackupError, OSError) as exc:
        raise OperatorError(f"restore failed: {exc}") from None
    console.print(
        f"restored {path.name} into {database_name(dsn)} and migrated it in {seconds:.1f}s "
        f"(at {datetime.now(UTC):%Y-%m-%d %H:%M:%S} UTC)",
        highlight=False,
    )
    return 0


def add_commands(sub: Any) -> None:
    backup = sub.add_parser(
        "backup", help="dump Postgres (compressed, timestamped, with retention)"
    )
    add_database_arguments(backup)
    backup.add_argument("--out", help="backup directory (default <data-dir>/backups)")
    backup.add_argument(
        "--retention-days",
        type=int,
        default=None,
        help="keep backups this many days (default: the backup_retention_days setting)",
    )
    backup.set_defaults(run=run_backup_command)
    restore = sub.add_parser(
        "restore", help="restore a backup into an empty database, then migrate"
    )
    add_database_arguments(restore)
    restore.add_argument("file", metavar="FILE", help="a backup file, or 'latest'")
    restore.add_argument("--out", help="where 'latest' looks (default <data-dir>/backups)")
    restore.set_defaults(run=run_restore_command)
