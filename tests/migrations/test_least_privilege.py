"""The hives serve as a role with DML only; the owner role migrates (real Postgres)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import asyncpg
import pytest

from keyforge_devstack.embedded import PG_APP_ROLE, PostgresServer
from keyforge_migrations import head_revision
from keyforge_shared.processes import free_port
from tests.conftest import APP_PASSWORD, ValkeyFixture
from tests.hive.conftest import ADMIN_HEADERS, hive_processes
from tests.migrations.test_migrations import DURABLE_TABLES, schema_of
from tests.support import hive_process_env

# What the application role must not do, each as the statement that would try.
FORBIDDEN = {
    "create a table": "CREATE TABLE intruder (id integer)",
    "drop a table": "DROP TABLE results",
    "alter a table": "ALTER TABLE nodes ADD COLUMN intruder integer",
    "empty a table in one go": "TRUNCATE audit_log",
    "move the schema's revision": "UPDATE alembic_version SET version_num = 'x'",
    "create a function": "CREATE FUNCTION intruder() RETURNS int LANGUAGE sql AS 'SELECT 1'",
}


async def test_the_application_role_has_dml_and_nothing_more(
    database_url: str, app_database_url: str
) -> None:
    app = await asyncpg.connect(app_database_url)
    owner = await asyncpg.connect(database_url)
    try:
        assert await app.fetchval("SELECT current_user") == PG_APP_ROLE
        assert (
            await app.fetchval("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
            is False
        )
        await app.execute("INSERT INTO audit_log (actor, action, target) VALUES ('t', 'a', 'x')")
        await app.execute("UPDATE audit_log SET target = 'y' WHERE actor = 't'")
        assert await app.fetchval("SELECT count(*) FROM audit_log WHERE target = 'y'") == 1
        await app.execute("DELETE FROM audit_log WHERE actor = 't'")
        for what, statement in FORBIDDEN.items():
            try:
                await app.execute(statement)
            except asyncpg.InsufficientPrivilegeError:
                continue
            pytest.fail(f"the application role could {what}")
        # A table a later migration creates (as the owner) is the app's to use at once.
        await owner.execute("CREATE TABLE later_table (id bigserial PRIMARY KEY, n integer)")
        await app.execute("INSERT INTO later_table (n) VALUES (1)")
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await app.execute("DROP TABLE later_table")
    finally:
        await app.close()
        await owner.close()


def hive_command(
    args: list[str], env: dict[str, str], timeout_s: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "keyforge_hive", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )


def app_url_of(postgres: PostgresServer, database_url: str) -> str:
    return postgres.app_dsn(APP_PASSWORD, database_url.rsplit("/", 1)[1])


async def test_migrate_as_the_owner_then_serve_as_the_app_role_without_migrating(
    postgres: PostgresServer, empty_database_url: str, valkey: ValkeyFixture, tmp_path: Path
) -> None:
    app_url = app_url_of(postgres, empty_database_url)
    env = {
        **hive_process_env(app_url, valkey.url("hive"), free_port()),
        "KEYFORGE_MIGRATION_DATABASE_URL": empty_database_url,
    }
    done = await asyncio.to_thread(hive_command, ["migrate"], env)
    assert done.returncode == 0, done.stderr
    tables, versions = await schema_of(empty_database_url)
    assert tables >= DURABLE_TABLES
    assert versions == [head_revision()]
    # The migrations made the owner own everything and gave the app role its rights.
    conn = await asyncpg.connect(empty_database_url)
    try:
        owners = await conn.fetch(
            "SELECT DISTINCT tableowner FROM pg_tables WHERE schemaname = 'public'"
        )
    finally:
        await conn.close()
    assert [r[0] for r in owners] == ["keyforge"]

    serving = {"KEYFORGE_MIGRATE": "off"}
    async with hive_processes(app_url, valkey, tmp_path, count=1, env=serving) as (hive,):
        assert (await hive.get("/health")).status_code == 200
        # A write through the API: the settings row and its audit line.
        settings = (await hive.get("/settings", headers=ADMIN_HEADERS)).json()
        settings["score_tolerance"] = 7.0
        put = await hive.put("/settings", json=settings, headers=ADMIN_HEADERS)
        assert put.status_code == 200, put.text
        assert (await hive.get("/settings", headers=ADMIN_HEADERS)).json() == settings


async def test_a_hive_that_may_not_migrate_refuses_an_unmigrated_database(
    postgres: PostgresServer, empty_database_url: str, valkey: ValkeyFixture
) -> None:
    env = {
        **hive_process_env(
            app_url_of(postgres, empty_database_url), valkey.url("hive"), free_port()
        ),
        "KEYFORGE_MIGRATE": "off",
        "KEYFORGE_CONNECT_ATTEMPTS": "2",
    }
    done = await asyncio.to_thread(hive_command, [], env)
    assert done.returncode == 1
    assert "not migrated at all" in done.stderr
    assert "keyforge-hive migrate" in done.stderr
    assert await schema_of(empty_database_url) == (set(), [])


async def test_the_app_role_cannot_migrate_on_its_own(
    postgres: PostgresServer, empty_database_url: str, valkey: ValkeyFixture
) -> None:
    # Without the owner's URL the hive migrates as DATABASE_URL: the app role may not.
    app_url = app_url_of(postgres, empty_database_url)
    env = {**hive_process_env(app_url, valkey.url("hive"), free_port())}
    done = await asyncio.to_thread(hive_command, ["migrate"], env)
    assert done.returncode == 1
    assert "schema migration failed" in done.stderr
    assert "permission denied" in done.stderr
    assert APP_PASSWORD not in done.stderr
