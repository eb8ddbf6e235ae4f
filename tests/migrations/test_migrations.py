from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
from pathlib import Path

import asyncpg

from keyforge_migrations import scripts_dir, upgrade_to_head

DURABLE_TABLES = {
    "hardware_profiles",
    "nodes",
    "jobs",
    "results",
    "submissions",
    "settings",
    "kv",
    "audit_log",
}

BROKEN_MIGRATION = '''
"""A migration that fails half-way, after creating a table."""

from alembic import op

revision = "9999"
down_revision = "{head}"
branch_labels = None
depends_on = None
CONTRACT: dict[str, str] = {{}}


def upgrade() -> None:
    op.execute("CREATE TABLE canary (id integer)")
    op.execute("ALTER TABLE nodes ADD COLUMN canary_col integer")
    op.execute("SELECT 1 / 0")


def downgrade() -> None:
    pass
'''


SLOW_MIGRATION = BROKEN_MIGRATION.replace(
    'op.execute("SELECT 1 / 0")', 'op.execute("SELECT pg_sleep(1)")'
)


async def schema_of(url: str) -> tuple[set[str], list[str]]:
    conn = await asyncpg.connect(url)
    try:
        tables = {
            r["tablename"]
            for r in await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname='public'")
        }
        versions = []
        if "alembic_version" in tables:
            versions = [r[0] for r in await conn.fetch("SELECT version_num FROM alembic_version")]
        return tables - {"alembic_version"}, versions
    finally:
        await conn.close()


def head_revision() -> str:
    from alembic.script import ScriptDirectory

    from keyforge_migrations import alembic_config

    head = ScriptDirectory.from_config(alembic_config("postgresql://unused")).get_current_head()
    assert head is not None
    return head


async def test_upgrade_creates_the_durable_tables(empty_database_url: str) -> None:
    await asyncio.to_thread(upgrade_to_head, empty_database_url)
    tables, versions = await schema_of(empty_database_url)
    assert tables >= DURABLE_TABLES
    assert versions == [head_revision()]


async def test_concurrent_upgrades_migrate_once(empty_database_url: str, tmp_path: Path) -> None:
    # Three processes, as three hives starting together, on a schema whose last
    # step is slow enough that they overlap. Without the advisory lock the
    # losers fail with "relation already exists".
    scripts = scripts_with(tmp_path, SLOW_MIGRATION)
    # Each also grants the application role, as a hive does: concurrent GRANTs
    # on one table fail with "tuple concurrently updated" unless serialised.
    code = (
        "import sys, pathlib; from keyforge_migrations import upgrade_to_head; "
        "upgrade_to_head(sys.argv[1], pathlib.Path(sys.argv[2]), app_role='keyforge_app')"
    )
    procs = [
        await asyncio.create_subprocess_exec(
            sys.executable, "-c", code, empty_database_url, str(scripts)
        )
        for _ in range(3)
    ]
    assert [await p.wait() for p in procs] == [0, 0, 0]
    tables, versions = await schema_of(empty_database_url)
    assert tables >= DURABLE_TABLES | {"canary"}
    assert versions == ["9999"]


def scripts_with(tmp_path: Path, extra_migration: str) -> Path:
    """The project's migrations plus one more on top of head."""
    scripts = tmp_path / "migrations"
    shutil.copytree(scripts_dir(), scripts, ignore=shutil.ignore_patterns("__pycache__"))
    source = extra_migration.format(head=head_revision())
    (scripts / "versions" / "9999_extra.py").write_text(source)
    return scripts


def broken_scripts(tmp_path: Path) -> Path:
    return scripts_with(tmp_path, BROKEN_MIGRATION)


def run_hive(database_url: str, scripts: Path) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "KEYFORGE_ENV": "dev",
        "DATABASE_URL": database_url,
        "KEYFORGE_MIGRATIONS_DIR": str(scripts),
        "KEYFORGE_VALKEY_URL": "redis://127.0.0.1:1/0",
    }
    return subprocess.run(
        [sys.executable, "-m", "keyforge_hive"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


async def test_broken_migration_stops_the_hive_and_changes_nothing(
    database_url: str, tmp_path: Path
) -> None:
    before = await schema_of(database_url)
    result = await asyncio.to_thread(run_hive, database_url, broken_scripts(tmp_path))
    assert result.returncode == 1
    assert "schema migration failed" in result.stderr
    assert await schema_of(database_url) == before
    conn = await asyncpg.connect(database_url)
    try:
        columns = await conn.fetch(
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'nodes'"
        )
    finally:
        await conn.close()
    assert "canary_col" not in {r[0] for r in columns}


async def test_broken_migration_on_an_empty_database_leaves_it_empty(
    empty_database_url: str, tmp_path: Path
) -> None:
    result = await asyncio.to_thread(run_hive, empty_database_url, broken_scripts(tmp_path))
    assert result.returncode == 1
    # One transaction for the whole upgrade: even the good first migration is rolled back.
    assert await schema_of(empty_database_url) == (set(), [])
