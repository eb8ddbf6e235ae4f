"""Real servers for the whole session, a clean keyspace and database for every test.

Valkey and PostgreSQL come from their wheels, listen on free loopback ports,
and are stopped by their own PIDs when the session ends.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import pytest
from redis.asyncio import Redis

from keyforge_devstack.embedded import (
    PG_APP_ROLE,
    PostgresServer,
    ValkeyServer,
    start_valkey_with_users,
)
from keyforge_migrations import upgrade_to_head
from keyforge_node.engine import CACHE_ENV
from keyforge_shared.processes import free_port

REPO = Path(__file__).resolve().parents[1]
TEMPLATE_DB = "kf_template"
KERNEL_CACHE_NAME = "numba-kernels"
# A cold compile of the search kernels on a machine shared with other work.
WARM_TIMEOUT_S = 900
# The application role's password (the role is the fleet's, made by its own script).
APP_PASSWORD = secrets.token_urlsafe(16)


# These run whole local fleets (keyforge up, Apache on the fleet's default ports, real
# nodes): under pytest-xdist they run one after another on one worker, while the tests
# with their own servers on free ports spread over the others.
FLEET_TESTS = (
    "tests/devstack/",
    "tests/web/",
    "tests/node/test_node_stack.py",
    "tests/node/test_node_config.py",
    "tests/cli/test_job_commands.py",
)


# tryfirst: xdist reads the group in its own collection hook, which must come after this.
@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.nodeid.startswith(FLEET_TESTS):
            item.add_marker(pytest.mark.xdist_group("fleet"))
        # The first of these compiles the kernels while setting up (see kernel_cache):
        # its bound is the compile's, not the per-test default.
        if "kernel_cache" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.timeout(WARM_TIMEOUT_S))


@dataclass
class ValkeyFixture:
    server: ValkeyServer
    passwords: dict[str, str]

    def url(self, user: str) -> str:
        return self.server.url(user, self.passwords[user])


def start_valkey(workdir: Path, port: int | None = None) -> ValkeyFixture:
    """A real valkey-server with the fleet's ACL users and fresh passwords."""
    return ValkeyFixture(*start_valkey_with_users(workdir, port or free_port()))


@pytest.fixture(scope="session")
def valkey(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ValkeyFixture]:
    fixture = start_valkey(tmp_path_factory.mktemp("valkey"))
    yield fixture
    fixture.server.stop()


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    with postgres_workdir() as workdir:
        server = PostgresServer(
            free_port(), workdir / "data", secrets.token_urlsafe(16), database=TEMPLATE_DB
        )
        server.start()
        try:
            server.ensure_database()
            server.ensure_app_role(APP_PASSWORD)
            # Every database cloned from the template carries the app role's grants.
            upgrade_to_head(server.dsn(), app_role=PG_APP_ROLE)
            yield server
        finally:
            server.stop()


@contextlib.contextmanager
def postgres_workdir() -> Iterator[Path]:
    """A directory for a PostgreSQL cluster, outside pytest's temp tree.

    As root, PostgreSQL runs as its own account and must traverse every parent
    of its data dir; pytest resets ``/tmp/pytest-of-<user>`` to mode 0700 each
    time a session starts, which would cut a running server off its own files.
    """
    workdir = Path(tempfile.mkdtemp(prefix="kf-test-pg-"))
    try:
        yield workdir
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture
async def valkey_admin(valkey: ValkeyFixture) -> AsyncIterator[Redis]:
    """Admin client on an empty keyspace."""
    client = Redis.from_url(valkey.url("admin"))
    await client.flushall()
    yield client
    await client.aclose()


@contextlib.asynccontextmanager
async def scratch_database(postgres: PostgresServer, template: str) -> AsyncIterator[str]:
    """A database made for one test from ``template``, dropped after it."""
    name = f"kf_test_{secrets.token_hex(6)}"
    admin = await asyncpg.connect(postgres.dsn("postgres"))
    try:
        await admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        yield postgres.dsn(name)
        await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@pytest.fixture
async def database_url(postgres: PostgresServer) -> AsyncIterator[str]:
    """A fresh, fully migrated database for one test, cloned from the template."""
    async with scratch_database(postgres, TEMPLATE_DB) as url:
        yield url


@pytest.fixture
def app_database_url(postgres: PostgresServer, database_url: str) -> str:
    """``database_url``'s database as the application role a hive serves with."""
    return postgres.app_dsn(APP_PASSWORD, database_url.rsplit("/", 1)[1])


@pytest.fixture
async def empty_database_url(postgres: PostgresServer) -> AsyncIterator[str]:
    """A database with no schema at all, for migration tests."""
    async with scratch_database(postgres, "template0") as url:
        yield url


# One compiled-kernel cache for every node a test session starts, warmed before the first.
#
# A node compiles its numba kernels into its state dir when that has none;
# two fresh nodes doing so at once on a loaded machine spend the first minute
# compiling, past the functional bounds the stack tests assert. Tests that
# start nodes request ``kernel_cache``: it points ``NUMBA_CACHE_DIR`` (which
# nodes prefer to their state dir) at pytest's cache dir, so it outlives the
# session and numba recompiles only what changed (a session temp dir when
# that plugin is off), and fills it once, in a process of its own, before any
# node starts. A ``NUMBA_CACHE_DIR`` set by the caller is kept.
@pytest.fixture(scope="session")
def kernel_cache(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Path]:
    cache = getattr(request.config, "cache", None)  # None under ``-p no:cacheprovider``
    lasting = cache.mkdir(KERNEL_CACHE_NAME) if cache is not None else None
    chosen = os.environ.get(CACHE_ENV) or str(lasting or tmp_path_factory.mktemp(KERNEL_CACHE_NAME))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(CACHE_ENV, chosen)
        warm = subprocess.run(
            [sys.executable, "-m", "keyforge_node.engine.warm", "--assets-dir", "data/system"],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=WARM_TIMEOUT_S,
            check=False,
        )
        assert warm.returncode == 0, warm.stdout + warm.stderr
        yield Path(chosen)
