"""`keyforge up` / `keyforge down` for real: every server and service as its own process."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from keyforge_devstack.embedded import PG_APP_ROLE
from keyforge_shared.processes import pid_alive
from tests.conftest import postgres_workdir

pytestmark = pytest.mark.stack

STACK_FIELDS = {
    "domain",
    "apache",
    "hives",
    "assets",
    "valkey",
    "postgres",
    "urls",
    "secrets",
    "secret_files",
    "assets_dir",
    "pids",
}


def keyforge(*args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "keyforge_cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def wait_gone(pids: list[int], timeout_s: float = 30) -> list[int]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        alive = [pid for pid in pids if pid_alive(pid)]
        if not alive:
            return []
        time.sleep(0.1)
    return [pid for pid in pids if pid_alive(pid)]


@pytest.fixture
def busy_hive_port() -> Iterator[int]:
    """Hold the first hive's default port, as another program would."""
    sock = socket.socket()
    # A previous test's hive may have left the port in TIME_WAIT: hold it all the same.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(("127.0.0.1", 3000))
    except OSError:
        sock.close()
        yield 3000  # already busy on this machine: the point stands
        return
    sock.listen()
    yield 3000
    sock.close()


@pytest.fixture
def stack_dir() -> Iterator[Path]:
    # Outside pytest's temp tree, for the reason given in tests/conftest.py.
    with postgres_workdir() as workdir:
        data_dir = workdir / "fleet"
        yield data_dir
        keyforge("down", "--data-dir", str(data_dir))


def read_stack(data_dir: Path) -> dict[str, Any]:
    stack: dict[str, Any] = json.loads((data_dir / "stack.json").read_text())
    return stack


def all_healthy(stack: dict[str, Any]) -> None:
    for url in [*stack["hives"], stack["assets"]]:
        response = httpx.get(f"{url}/health", timeout=5)
        assert response.status_code == 200, (url, response.text)


def count_marks(dsn: str) -> int:
    """Add a mark as the hives' role and count them; that role may not change the schema."""
    import asyncio

    async def run() -> int:
        conn = await asyncpg.connect(dsn)
        try:
            assert await conn.fetchval("SELECT current_user") == PG_APP_ROLE
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await conn.execute("CREATE TABLE intruder (id integer)")
            await conn.execute(
                "INSERT INTO audit_log (actor, action, target) VALUES ('test', 'mark', 'up')"
            )
            return int(await conn.fetchval("SELECT count(*) FROM audit_log WHERE action='mark'"))
        finally:
            await conn.close()

    return asyncio.run(run())


def test_up_detach_down_restart_keeps_data(stack_dir: Path, busy_hive_port: int) -> None:
    started = time.monotonic()
    result = keyforge("up", "--detach", "--data-dir", str(stack_dir))
    assert result.returncode == 0, result.stdout + result.stderr
    assert time.monotonic() - started < 90
    assert f"port {busy_hive_port} is busy; hive-0 uses" in result.stdout

    stack = read_stack(stack_dir)
    assert set(stack) >= STACK_FIELDS
    assert len(stack["hives"]) == 2
    assert f":{busy_hive_port}" not in stack["hives"][0]
    assert set(stack["valkey"]["users"]) == {"hive", "assets", "assetmgr", "admin"}
    assert set(stack["pids"]) >= {"valkey", "postgres", "hive-0", "hive-1", "assets", "assetmgr"}
    assert stack["apache"]["running"] in (True, False)
    for role in ("hive", "admin"):
        assert Path(stack["secret_files"][role]).read_text().strip() == stack["secrets"][role]
    assert (stack_dir / "stack.json").stat().st_mode & 0o077 == 0
    all_healthy(stack)
    # Secrets reach stack.json and nowhere else.
    logs = "".join(p.read_text() for p in (stack_dir / "logs").glob("*.log"))
    assert stack["secrets"]["hive"] not in logs + result.stdout
    assert stack["secrets"]["admin"] not in logs + result.stdout

    assert count_marks(stack["postgres"]["dsn"]) == 1
    pids = [*stack["pids"].values(), stack["supervisor_pid"]]
    down = keyforge("down", "--data-dir", str(stack_dir))
    assert down.returncode == 0, down.stdout + down.stderr
    assert wait_gone(pids) == []
    assert not (stack_dir / "stack.json").exists()

    again = keyforge("up", "--detach", "--data-dir", str(stack_dir))
    assert again.returncode == 0, again.stdout + again.stderr
    restarted = read_stack(stack_dir)
    assert restarted["secrets"] == stack["secrets"]
    assert count_marks(restarted["postgres"]["dsn"]) == 2


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGKILL])
def test_stopping_foreground_up_stops_every_child(stack_dir: Path, sig: int) -> None:
    """SIGTERM and Ctrl-C stop the fleet in order; even SIGKILL leaves no orphan."""
    supervisor = subprocess.Popen(
        [sys.executable, "-m", "keyforge_cli", "up", "--hives", "1", "--data-dir", str(stack_dir)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 90
        while not (stack_dir / "stack.json").exists():
            assert supervisor.poll() is None, supervisor.stdout.read() if supervisor.stdout else ""
            assert time.monotonic() < deadline, "stack.json never appeared"
            time.sleep(0.2)
        stack = read_stack(stack_dir)
        all_healthy(stack)
        supervisor.send_signal(sig)
        code = supervisor.wait(60)
        assert code == (-signal.SIGKILL if sig == signal.SIGKILL else 0)
        assert wait_gone(list(stack["pids"].values())) == []
    finally:
        if supervisor.poll() is None:
            supervisor.kill()
            supervisor.wait(10)
        if supervisor.stdout is not None:
            supervisor.stdout.close()


def test_second_up_on_the_same_data_dir_is_refused(stack_dir: Path) -> None:
    assert keyforge("up", "--detach", "--hives", "1", "--data-dir", str(stack_dir)).returncode == 0
    second = keyforge("up", "--detach", "--data-dir", str(stack_dir))
    assert second.returncode != 0
    assert "already runs" in second.stdout + second.stderr
    all_healthy(read_stack(stack_dir))
