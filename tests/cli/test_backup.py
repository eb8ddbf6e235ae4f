"""The restore drill: fill the database, back it up, destroy it, restore it, compare everything.

Assets are not in the dump: assetmgr re-hydrates them from data/system by
itself (tests/assetmgr/test_recovery.py proves it after a FLUSHALL).
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest

from keyforge_cli.backups import backup_name, list_backups, prune_backups
from keyforge_cli.operator_target import database_name, with_database
from keyforge_devstack.backup_schedule import DailyBackup
from keyforge_hive.kv.names import FLEET, job_namespaces
from keyforge_hive.kv.store import put_value, read_key, reveal
from keyforge_shared.kv_crypto import Keyring, parse_secrets_key
from tests.support import SECRETS_KEY

JOBS = 20
RESULTS = 100_000
SECRETS = {f"token_{i}": f"s3cret-value-{i}" for i in range(10)}

CHECKSUM = """
SELECT count(*) AS n, coalesce(md5(string_agg(t::text, '|' ORDER BY t::text)), '') AS md5
  FROM {table} AS t
"""
TABLES = """
SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename
"""


async def run_cli(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "keyforge_cli",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "COLUMNS": "200", **(env or {})},
    )
    out, err = await process.communicate()
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def fill(dsn: str, keyring: Keyring) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(
            "INSERT INTO settings (id, data, updated_by) VALUES (1, $1::text::jsonb, 'test')",
            '{"backup_retention_days": 3}',
        )
        await conn.execute(
            """
            INSERT INTO jobs (job_id, spec, keyboard, status, best_score)
            SELECT encode(sha256(('job ' || i)::bytea), 'hex'), ('{"n": ' || i || '}')::json,
                   'kb', CASE WHEN i % 5 = 0 THEN 'paused' ELSE 'active' END, i
              FROM generate_series(1, $1::integer) AS i
            """,
            JOBS,
        )
        # One statement for 100 000 rows: the server generates them.
        await conn.execute(
            """
            INSERT INTO results (job_id, node_id, layout, score, is_record, created_at)
            SELECT encode(sha256(('job ' || (i % $2::integer + 1))::bytea), 'hex'),
                   'node-' || (i % 37), 'layout-' || i, (i * 7919 % 100003) / 7.0,
                   i % 997 = 0, timestamptz '2026-01-01' + i * interval '1 second'
              FROM generate_series(1, $1::integer) AS i
            """,
            RESULTS,
            JOBS,
        )
        job = await conn.fetchval("SELECT min(job_id) FROM jobs")
        vars_ns, secrets_ns = job_namespaces(job)
        for i in range(30):
            await put_value(
                conn, FLEET, f"v{i % 10}", f"value {i}", ttl_s=None, actor="test", keyring=None
            )
            await put_value(
                conn, vars_ns, f"k{i % 7}", f"job value {i}", ttl_s=3600, actor="test", keyring=None
            )
        for key, value in SECRETS.items():
            await put_value(conn, secrets_ns, key, value, ttl_s=None, actor="test", keyring=keyring)
    finally:
        await conn.close()


async def checksums(dsn: str) -> dict[str, tuple[int, str]]:
    conn = await asyncpg.connect(dsn)
    try:
        tables = [r["tablename"] for r in await conn.fetch(TABLES)]
        sums = {}
        for table in tables:
            row = await conn.fetchrow(CHECKSUM.format(table=table))
            assert row is not None
            sums[table] = (row["n"], row["md5"])
        return sums
    finally:
        await conn.close()


async def drop_database(dsn: str) -> None:
    admin = await asyncpg.connect(with_database(dsn, "postgres"))
    try:
        await admin.execute(f'DROP DATABASE "{database_name(dsn)}" WITH (FORCE)')
    finally:
        await admin.close()


async def revealed_secrets(dsn: str, keyring: Keyring) -> dict[str, str]:
    conn = await asyncpg.connect(dsn)
    try:
        job = await conn.fetchval("SELECT min(job_id) FROM jobs")
        _, secrets_ns = job_namespaces(job)
        found = {}
        for key in SECRETS:
            row = await read_key(conn, secrets_ns, key)
            assert row is not None
            found[key] = reveal(row, keyring)
        return found
    finally:
        await conn.close()


async def app_role_can_work_but_not_create(app_dsn: str) -> None:
    conn = await asyncpg.connect(app_dsn)
    try:
        assert await conn.fetchval("SELECT count(*) FROM results") == RESULTS
        await conn.execute("INSERT INTO audit_log (actor, action, target) VALUES ('t', 'a', 'x')")
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute("CREATE TABLE intruder (id integer)")
    finally:
        await conn.close()


async def test_restore_drill(database_url: str, app_database_url: str, tmp_path: Path) -> None:
    keyring = Keyring.from_keys(parse_secrets_key(SECRETS_KEY))
    started = time.perf_counter()
    await fill(database_url, keyring)
    filled = time.perf_counter() - started
    before = await checksums(database_url)
    assert before["results"][0] == RESULTS
    assert before["jobs"][0] == JOBS
    assert before["kv"][0] == 70

    out = tmp_path / "backups"
    stale = out / backup_name(database_name(database_url), datetime.now(UTC) - timedelta(days=5))
    out.mkdir()
    stale.write_bytes(b"an old backup")

    started = time.perf_counter()
    code, stdout, stderr = await run_cli("backup", "--dsn", database_url, "--out", str(out))
    backup_s = time.perf_counter() - started
    assert code == 0, stderr
    backup = Path(stdout.strip().splitlines()[-1])
    assert list_backups(out) == [backup]  # the 5-day-old one went: the setting keeps 3 days
    assert "keeping 3 days" in stderr
    stat = await asyncio.to_thread(backup.stat)
    assert stat.st_mode & 0o077 == 0

    await drop_database(database_url)

    # As an operator beside the hives would: their environment names both roles,
    # and the restore (which creates the schema) takes the owner's.
    started = time.perf_counter()
    roles = {"DATABASE_URL": app_database_url, "KEYFORGE_MIGRATION_DATABASE_URL": database_url}
    code, _, stderr = await run_cli("restore", str(backup), env=roles)
    restore_s = time.perf_counter() - started
    assert code == 0, stderr
    after = await checksums(database_url)
    assert after == before
    assert await revealed_secrets(database_url, keyring) == SECRETS
    # The hives' role works on the restored database as before, and still owns nothing.
    await app_role_can_work_but_not_create(app_database_url)
    print(
        f"restore drill: fill {filled:.1f}s, backup {backup_s:.1f}s "
        f"({stat.st_size / 1e6:.1f} MB), restore + migrate {restore_s:.1f}s; "
        f"{len(after)} tables, {sum(n for n, _ in after.values())} rows identical"
    )


async def test_restore_refuses_a_database_that_is_not_empty(
    database_url: str, tmp_path: Path
) -> None:
    code, stdout, stderr = await run_cli(
        "backup", "--dsn", database_url, "--out", str(tmp_path), "--retention-days", "1"
    )
    assert code == 0, stderr
    code, _, stderr = await run_cli("restore", stdout.strip(), "--dsn", database_url)
    assert code == 1
    assert "not empty" in stderr


def test_retention_keeps_recent_backups_and_always_the_newest(tmp_path: Path) -> None:
    now = datetime(2026, 11, 26, 12, tzinfo=UTC)
    ages = [40, 20, 13, 1]
    paths = [tmp_path / backup_name("kf", now - timedelta(days=d)) for d in ages]
    for path in paths:
        path.write_bytes(b"x")
    (tmp_path / "notes.txt").write_text("not a backup")
    removed = prune_backups(tmp_path, 14, now)
    assert removed == paths[:2]
    assert list_backups(tmp_path) == paths[2:]
    # Even past the retention, the newest backup stays.
    assert prune_backups(tmp_path, 14, now + timedelta(days=100)) == [paths[2]]
    assert list_backups(tmp_path) == [paths[3]]


def test_the_fallback_retention_is_the_settings_default() -> None:
    from keyforge_cli.backups import DEFAULT_RETENTION_DAYS
    from keyforge_shared.runtime_settings import RuntimeSettings

    assert RuntimeSettings().backup_retention_days == DEFAULT_RETENTION_DAYS


async def test_the_daily_backup_runs_once_a_day(database_url: str, tmp_path: Path) -> None:
    daily = DailyBackup(database_url, tmp_path)
    daily.tick()
    first = daily.thread
    await asyncio.to_thread(daily.stop)
    assert len(list_backups(tmp_path)) == 1
    daily.tick()  # the same day: nothing to do
    assert daily.thread is first
    # A restarted supervisor finds today's backup and waits for tomorrow too.
    restarted = DailyBackup(database_url, tmp_path)
    restarted.tick()
    assert restarted.thread is None
    daily.tick(datetime.now(UTC) + timedelta(hours=25))
    assert daily.thread is not first
    await asyncio.to_thread(daily.stop)
