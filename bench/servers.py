"""Real Valkey and Postgres for a benchmark run, and uvicorn variants started side by side."""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from keyforge_devstack.embedded import (
    REPO_ROOT,
    PostgresServer,
    ValkeyServer,
    start_valkey_with_users,
)
from keyforge_migrations import upgrade_to_head
from keyforge_shared.processes import free_port, spawn, stop_process, wait_for_port

NODE_SECRET = "bench-node-secret-0123456789abcdef"
ADMIN_SECRET = "bench-admin-secret-0123456789abcdef"


@dataclass
class Backends:
    valkey: ValkeyServer
    passwords: dict[str, str]
    postgres: PostgresServer
    workdir: Path

    def valkey_url(self, user: str) -> str:
        return self.valkey.url(user, self.passwords[user])

    def hive_env(self, port: int, workers: int) -> dict[str, str]:
        return {
            **os.environ,
            "KEYFORGE_ENV": "prod",
            "KEYFORGE_LISTEN_HOST": "127.0.0.1",
            "KEYFORGE_LISTEN_PORT": str(port),
            "KEYFORGE_WORKERS": str(workers),
            "KEYFORGE_LOG_LEVEL": "warning",
            "DATABASE_URL": self.postgres.dsn(),
            "KEYFORGE_VALKEY_URL": self.valkey_url("hive"),
            "HIVE_SECRET": NODE_SECRET,
            "HIVE_ADMIN_SECRET": ADMIN_SECRET,
            # Every benchmark client connects from one loopback address.
            "KEYFORGE_SETTING_SSE_STREAMS_PER_ADDRESS": "100000",
        }


@contextlib.contextmanager
def backends() -> Iterator[Backends]:
    workdir = Path(tempfile.mkdtemp(prefix="kf-bench-"))
    valkey, passwords = start_valkey_with_users(workdir / "valkey", free_port())
    postgres = PostgresServer(free_port(), workdir / "pg" / "data", secrets.token_urlsafe(12))
    try:
        postgres.start()
        postgres.ensure_database()
        upgrade_to_head(postgres.dsn())
        yield Backends(valkey, passwords, postgres, workdir)
    finally:
        postgres.stop()
        valkey.stop()
        shutil.rmtree(workdir, ignore_errors=True)


@contextlib.contextmanager
def served(
    name: str, argv: list[str], env: Mapping[str, str], port: int, logs: Path
) -> Iterator[str]:
    """One server process on ``port``, stopped by its PID afterwards."""
    process = spawn(argv, env=env, log_file=logs / f"{name}.log", cwd=REPO_ROOT)
    try:
        wait_for_port(port, timeout_s=60, process=process)
        yield f"http://127.0.0.1:{port}"
    finally:
        stop_process(process, grace_s=15)


@contextlib.contextmanager
def hive_processes(back: Backends, count: int = 2) -> Iterator[list[int]]:
    """``count`` real ``keyforge-hive`` processes (one worker each) on ``back``; their ports.
    Logs in ``back.workdir / "logs"`` as ``hive-<i>.log``."""
    ports = [free_port() for _ in range(count)]
    argv = [sys.executable, "-m", "keyforge_hive"]
    with contextlib.ExitStack() as stack:
        for i, port in enumerate(ports):
            stack.enter_context(
                served(f"hive-{i}", argv, back.hive_env(port, 1), port, back.workdir / "logs")
            )
        yield ports


def uvicorn_argv(factory: str, port: int, workers: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "uvicorn",
        factory,
        "--factory",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--log-level",
        "warning",
        "--no-access-log",
    ]


@dataclass(frozen=True)
class WrkResult:
    requests_per_s: float
    non_2xx: int
    errors: int
    p50_ms: float
    p99_ms: float


def wrk(
    url: str, script: Path, *, seconds: int, connections: int, env: Mapping[str, str]
) -> WrkResult:
    if shutil.which("wrk") is None:
        raise SystemExit("this benchmark needs wrk: apt-get install wrk")
    out = subprocess.run(
        ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", str(script), url],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, **env},
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    return WrkResult(
        requests_per_s=rps,
        non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
        errors=sum(int(g) for g in errors.groups()) if errors else 0,
        p50_ms=_latency(out, "50%"),
        p99_ms=_latency(out, "99%"),
    )


def _latency(out: str, pct: str) -> float:
    match = re.search(rf"{re.escape(pct)}\s+([\d.]+)(us|ms|s)", out)
    if not match:
        return float("nan")
    value, unit = float(match.group(1)), match.group(2)
    return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value
