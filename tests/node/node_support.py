"""Real node processes and a real local stack for the node, swarm and status tests.

Everything here is started as its own process and stopped by its own PID:
the stack through ``keyforge up --detach`` / ``keyforge down``, nodes as
``python -m keyforge_cli node`` children signalled directly.
"""

from __future__ import annotations

import contextlib
import json
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from keyforge_devstack.ports import DEFAULT_PORTS, hive_port
from keyforge_shared.client.endpoints import async_client
from keyforge_shared.client.targets import Targets, targets_from_stack
from keyforge_shared.protocol import headers as wire
from tests.devstack.test_up import keyforge

REPO = Path(__file__).resolve().parents[2]
SYSTEM = REPO / "data" / "system"
UP_ATTEMPTS = 3
ACCEPTED = re.compile(r"result accepted: job (\w+) score ([0-9.]+)")


@dataclass(frozen=True)
class LocalStack:
    data_dir: Path
    info: dict[str, Any]

    @property
    def targets(self) -> Targets:
        return targets_from_stack(self.data_dir)

    def hive(self) -> httpx.AsyncClient:
        """A client for the API as nodes reach it (through Apache when it runs)."""
        return async_client(self.targets.hive, timeout_s=30.0)

    @property
    def node_headers(self) -> dict[str, str]:
        secret = Path(self.info["secret_files"]["hive"]).read_text().strip()
        return {wire.NODE_SECRET: secret}

    @property
    def admin_headers(self) -> dict[str, str]:
        secret = Path(self.info["secret_files"]["admin"]).read_text().strip()
        return {wire.ADMIN_SECRET: secret}

    def hive_pids(self) -> list[int]:
        return [pid for name, pid in self.info["pids"].items() if name.startswith("hive-")]


@contextlib.contextmanager
def default_ports_held() -> Iterator[None]:
    """Hold the fleet's default ports while our stack plans its own, so it takes free ones.

    Other stacks on this machine (other test runs) prefer the defaults too; two
    that plan the same free default port at once collide when they bind it.
    """
    held = []
    for port in [*DEFAULT_PORTS.values(), hive_port(0), hive_port(1), 8080, 8443]:
        sock = socket.socket()
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            sock.close()
            continue
        held.append(sock)
    try:
        yield
    finally:
        for sock in held:
            sock.close()


def local_stack(data_dir: Path, *up_args: str) -> Iterator[LocalStack]:
    """``keyforge up --detach`` (2 hives, Apache when installed) with ``up_args``, then
    ``keyforge down``."""
    try:
        for attempt in range(1, UP_ATTEMPTS + 1):
            with default_ports_held():
                up = keyforge("up", "--detach", "--data-dir", str(data_dir), *up_args)
            if up.returncode == 0:
                break
            # Another fleet on this machine can take a port between planning and binding.
            keyforge("down", "--data-dir", str(data_dir))
            assert attempt < UP_ATTEMPTS, up.stdout + up.stderr
            time.sleep(attempt * 3.0)
        info = json.loads((data_dir / "stack.json").read_text())
        yield LocalStack(data_dir, info)
    finally:
        keyforge("down", "--data-dir", str(data_dir))


@dataclass
class NodeProcess:
    process: subprocess.Popen[bytes]
    state_dir: Path
    log_file: Path

    def log(self) -> str:
        return self.log_file.read_text(errors="replace")

    def accepted_scores(self) -> list[float]:
        return [float(m.group(2)) for m in ACCEPTED.finditer(self.log())]

    def pending(self) -> list[dict[str, Any]]:
        """What the node's outbox holds unsent right now."""
        try:
            outbox = json.loads((self.state_dir / "outbox.json").read_text())
        except (FileNotFoundError, ValueError):
            return []
        pending: list[dict[str, Any]] = outbox.get("pending", [])
        return pending

    def stop(self, timeout_s: float = 20.0) -> int:
        """SIGTERM by PID; the exit code (a node that does not stop in time is killed)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)
            raise AssertionError(f"node {self.process.pid} ignored SIGTERM") from None


def start_node(state_dir: Path, *target_args: str) -> NodeProcess:
    state_dir.mkdir(parents=True, exist_ok=True)
    log_file = state_dir.parent / f"{state_dir.name}.log"
    with log_file.open("ab") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "keyforge_cli",
                "node",
                *target_args,
                "--state-dir",
                str(state_dir),
            ],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=REPO,
        )
    return NodeProcess(process, state_dir, log_file)


def ortho_job(board: str = "ortho_30", **fields: Any) -> dict[str, Any]:
    """A job on a data/system geometry (the default 30-key ortho one unless told), with the
    default weights and corpus and the original params."""
    spec: dict[str, Any] = {
        "definition": json.loads((SYSTEM / "keyboards" / f"{board}.json").read_text()),
        "weights": json.loads((SYSTEM / "weights" / "default.json").read_text()),
        "params": {
            "search_epochs": 20,
            "search_steps": 50_000,
            "search_patience": 5,
            "search_patience_threshold": 0.1,
            "temp_min": 0.1,
            "temp_max": 100.0,
            "opt_limit_fast": 20,
            "opt_limit_slow": 100,
        },
        "pinned_keys": "",
        "corpus_name": "default",
        "cost_matrix": "cost_matrix.csv",
    }
    spec.update(fields)
    return spec


async def create_job(
    client: httpx.AsyncClient, headers: dict[str, str], spec: dict[str, Any]
) -> str:
    response = await client.post("/jobs", json=spec, headers=headers)
    assert response.status_code == 200, response.text
    job_id: str = response.json()["job_id"]
    return job_id


@contextlib.asynccontextmanager
async def registered_job(
    client: httpx.AsyncClient, stack: LocalStack, spec: dict[str, Any]
) -> AsyncIterator[str]:
    """A job for one test, cancelled after it so the next test's nodes lease only theirs."""
    job_id = await create_job(client, stack.admin_headers, spec)
    try:
        yield job_id
    finally:
        response = await client.post(f"/jobs/{job_id}/cancel", headers=stack.admin_headers)
        assert response.status_code == 200, response.text


async def qwerty_score(client: httpx.AsyncClient, headers: dict[str, str], job_id: str) -> float:
    layout = ortho_job()["definition"]["layouts"]["Qwerty"]
    response = await client.post(
        "/score", json={"job_id": job_id, "layout": layout}, headers=headers
    )
    assert response.status_code == 200, response.text
    return float(response.json()["score"])


async def best_score(client: httpx.AsyncClient, job_id: str) -> float | None:
    response = await client.get(f"/jobs/{job_id}")
    assert response.status_code == 200, response.text
    score: float | None = response.json()["best_score"]
    return score
