"""The local fleet: start every server and service in order, keep them running, stop them."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from keyforge_cli.credentials import Credentials
from keyforge_cli.embedded import REPO_ROOT, PostgresServer, ValkeyServer, render_valkey_acl
from keyforge_cli.private_files import write_private
from keyforge_cli.processes import free_port, port_is_free, spawn, stop_process
from keyforge_shared.keys import DEFAULT_PREFIX

log = logging.getLogger("keyforge")

DEFAULT_PORTS = {"valkey": 6390, "postgres": 5433, "assets": 3001, "assetmgr": 3003}
HEALTH_TIMEOUT_S = 90.0
RESTART_BACKOFF_CAP_S = 30.0
# Environment a service must not inherit from the shell that ran `keyforge up`:
# the local fleet sets all of these itself.
OWN_ENV_PREFIXES = ("KEYFORGE_", "HIVE_", "DATABASE_URL")


def hive_port(index: int) -> int:
    return 3000 + 2 * index


@dataclass
class PortPlan:
    ports: dict[str, int] = field(default_factory=dict)
    notices: list[str] = field(default_factory=list)

    def claim(self, name: str, preferred: int) -> int:
        taken = set(self.ports.values())
        port = preferred
        if port in taken or not port_is_free(port):
            while (port := free_port()) in taken:
                pass
            self.notices.append(f"port {preferred} is busy; {name} uses {port} instead")
        self.ports[name] = port
        return port


def plan_ports(hives: int) -> PortPlan:
    plan = PortPlan()
    for name, preferred in DEFAULT_PORTS.items():
        plan.claim(name, preferred)
    for index in range(hives):
        plan.claim(f"hive-{index}", hive_port(index))
    return plan


@dataclass
class Service:
    """One of our Python services, run as ``python -m <module>``."""

    name: str
    module: str
    port: int
    env: dict[str, str]
    log_file: Path
    process: subprocess.Popen[bytes] | None = None
    failures: int = 0
    restart_at: float | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.process = spawn(
            [sys.executable, "-m", self.module],
            env=self.env,
            log_file=self.log_file,
            cwd=REPO_ROOT,
        )
        self.restart_at = None

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process, grace_s=15)


class Fleet:
    """Valkey, Postgres, N hives, assets and assetmgr for one data dir."""

    def __init__(
        self, *, data_dir: Path, hives: int, creds: Credentials, plan: PortPlan, assets_dir: Path
    ) -> None:
        self.data_dir = data_dir
        self.creds = creds
        self.plan = plan
        self.assets_dir = assets_dir
        ports = plan.ports
        self.acl_file = data_dir / "valkey" / "users.acl"
        self.valkey = ValkeyServer(ports["valkey"], data_dir / "valkey", self.acl_file)
        self.postgres = PostgresServer(
            ports["postgres"], data_dir / "postgres" / "data", creds.postgres_password
        )
        self.services = [
            self._service(f"hive-{i}", "keyforge_hive", ports[f"hive-{i}"], self._hive_env())
            for i in range(hives)
        ]
        self.services.append(self._service("assets", "keyforge_assets", ports["assets"], {}))
        self.services.append(
            self._service(
                "assetmgr",
                "keyforge_assetmgr",
                ports["assetmgr"],
                {"KEYFORGE_ASSETS_DIR": str(assets_dir)},
            )
        )

    @property
    def hives(self) -> list[Service]:
        return [s for s in self.services if s.name.startswith("hive-")]

    def valkey_url(self, user: str) -> str:
        return self.valkey.url(user, self.creds.valkey_passwords[user])

    def _hive_env(self) -> dict[str, str]:
        return {
            "DATABASE_URL": self.postgres.dsn(),
            "HIVE_SECRET": self.creds.hive_secret,
            "HIVE_ADMIN_SECRET": self.creds.admin_secret,
            "KEYFORGE_SECRETS_KEY": self.creds.secrets_key,
        }

    def _service(self, name: str, module: str, port: int, extra: dict[str, str]) -> Service:
        user = name.split("-", maxsplit=1)[0]
        env = {k: v for k, v in os.environ.items() if not k.startswith(OWN_ENV_PREFIXES)}
        env.update(
            KEYFORGE_ENV="dev",
            KEYFORGE_LISTEN_HOST="127.0.0.1",
            KEYFORGE_LISTEN_PORT=str(port),
            KEYFORGE_VALKEY_URL=self.valkey_url(user),
            PYTHONUNBUFFERED="1",
        )
        env.update(extra)
        return Service(name, module, port, env, self.data_dir / "logs" / f"{name}.log")

    def start(self) -> None:
        """Everything, in dependency order; on failure, stop what started and raise."""
        try:
            acl = render_valkey_acl(self.creds.valkey_passwords, DEFAULT_PREFIX)
            write_private(self.acl_file, acl)
            self.valkey.start()
            self.postgres.start()
            self.postgres.ensure_database()
            for service in self.services:
                service.start()
            self.wait_healthy()
        except BaseException:
            self.stop()
            raise

    def wait_healthy(self, timeout_s: float = HEALTH_TIMEOUT_S) -> None:
        deadline = time.monotonic() + timeout_s
        pending = list(self.services)
        with httpx.Client(timeout=2.0) as client:
            while pending:
                for service in list(pending):
                    assert service.process is not None
                    if service.process.poll() is not None:
                        raise RuntimeError(
                            f"{service.name} exited with {service.process.returncode}; "
                            f"see {service.log_file}"
                        )
                    try:
                        if client.get(f"{service.url}/health").status_code == 200:
                            pending.remove(service)
                    except httpx.HTTPError:
                        pass
                if pending and time.monotonic() > deadline:
                    names = ", ".join(s.name for s in pending)
                    raise TimeoutError(f"not healthy after {timeout_s:.0f}s: {names}")
                time.sleep(0.2)

    def pids(self) -> dict[str, int]:
        pids = {"valkey": self.valkey.pid, "postgres": self.postgres.pid}
        pids.update({s.name: s.process.pid for s in self.services if s.process})
        return pids

    def tend(self) -> bool:
        """Restart whatever died, with capped backoff; True when a PID changed."""
        changed = False
        now = time.monotonic()
        servers: dict[str, ValkeyServer | PostgresServer] = {
            "valkey": self.valkey,
            "postgres": self.postgres,
        }
        for name, server in servers.items():
            if server.process is not None and server.process.poll() is not None:
                log.warning("%s exited with %s; restarting", name, server.process.returncode)
                server.start()
                changed = True
        for service in self.services:
            assert service.process is not None
            if service.process.poll() is None:
                continue
            if service.restart_at is None:
                service.failures += 1
                delay = min(2.0 ** (service.failures - 1), RESTART_BACKOFF_CAP_S)
                service.restart_at = now + delay
                log.warning(
                    "%s exited with %s; restarting in %.0fs (see %s)",
                    service.name,
                    service.process.returncode,
                    delay,
                    service.log_file,
                )
            elif now >= service.restart_at:
                service.start()
                changed = True
        return changed

    def stop(self) -> None:
        """Services first, then the servers they use; every child waited for."""
        for service in reversed(self.services):
            service.stop()
        self.postgres.stop()
        self.valkey.stop()
