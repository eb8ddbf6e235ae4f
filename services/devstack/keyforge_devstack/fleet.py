"""The local fleet: start every server and service in order, keep them running, stop them."""

from __future__ import annotations

import logging
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx

from keyforge_devstack.apache import ApacheServer
from keyforge_devstack.balancer import BalancerManager
from keyforge_devstack.credentials import Credentials
from keyforge_devstack.embedded import REPO_ROOT, PostgresServer, ValkeyServer, render_valkey_acl
from keyforge_devstack.ports import PortPlan
from keyforge_shared.keys import DEFAULT_PREFIX
from keyforge_shared.private_files import write_private
from keyforge_shared.processes import listens, spawn, stop_process

log = logging.getLogger("keyforge")

HEALTH_TIMEOUT_S = 90.0
RESTART_BACKOFF_CAP_S = 30.0
# A service that ran this long before it exited starts its backoff afresh.
STABLE_RUN_S = 60.0
# Environment a service must not inherit from the shell that ran `keyforge up`:
# the local fleet sets all of these itself.
OWN_ENV_PREFIXES = ("KEYFORGE_", "HIVE_", "DATABASE_URL")


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
    started_at: float = 0.0
    args: tuple[str, ...] = ()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.process = spawn(
            [sys.executable, "-m", self.module, *self.args],
            env=self.env,
            log_file=self.log_file,
            cwd=REPO_ROOT,
        )
        self.restart_at = None
        self.started_at = time.monotonic()

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process, grace_s=15)


class Fleet:
    """Valkey, Postgres, N hives, assets, assetmgr and (when installed) Apache for one data dir."""

    def __init__(
        self,
        *,
        data_dir: Path,
        hives: int,
        creds: Credentials,
        plan: PortPlan,
        assets_dir: Path,
        domain: str,
        apache_binary: Path | None = None,
    ) -> None:
        self.data_dir = data_dir
        self.creds = creds
        self.plan = plan
        self.assets_dir = assets_dir
        self.domain = domain
        self.with_apache = apache_binary is not None
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
        self.apache: ApacheServer | None = None
        self.balancer: BalancerManager | None = None
        if apache_binary is not None:
            self.apache = ApacheServer(
                binary=apache_binary,
                domain=domain,
                http_port=ports["apache-http"],
                https_port=ports["apache-https"],
                tls_dir=data_dir / "tls",
                hive_upstreams=[s.url for s in self.hives],
                assets_upstream=next(s.url for s in self.services if s.name == "assets"),
                # Guards the balancer-manager for this run only; never stored.
                admin_token=secrets.token_urlsafe(24),
                run_dir=data_dir / "apache",
                log_dir=data_dir / "logs",
            )

    @property
    def hives(self) -> list[Service]:
        return [s for s in self.services if s.name.startswith("hive-")]

    def valkey_url(self, user: str) -> str:
        return self.valkey.url(user, self.creds.valkey_passwords[user])

    def app_dsn(self) -> str:
        return self.postgres.app_dsn(self.creds.postgres_app_password)

    def _hive_env(self) -> dict[str, str]:
        return {
            # Serving as a role that owns nothing; migrating as the owner.
            "DATABASE_URL": self.app_dsn(),
            "KEYFORGE_MIGRATION_DATABASE_URL": self.postgres.dsn(),
            "HIVE_SECRET": self.creds.hive_secret,
            "HIVE_ADMIN_SECRET": self.creds.admin_secret,
            "KEYFORGE_SECRETS_KEY": self.creds.secrets_key,
        }

    def _service(self, name: str, module: str, port: int, extra: dict[str, str]) -> Service:
        user = name.split("-", maxsplit=1)[0]
        env = {k: v for k, v in os.environ.items() if not k.startswith(OWN_ENV_PREFIXES)}
        env.update(
            KEYFORGE_ENV="dev",
            KEYFORGE_DOMAIN=self.domain,
            KEYFORGE_LISTEN_HOST="127.0.0.1",
            KEYFORGE_LISTEN_PORT=str(port),
            KEYFORGE_VALKEY_URL=self.valkey_url(user),
            PYTHONUNBUFFERED="1",
        )
        if self.with_apache:
            # Apache reaches the services over loopback and says who the client is.
            env["KEYFORGE_TRUSTED_PROXIES"] = "127.0.0.1"
            # Browsers see the front end behind Apache's https port, not 443.
            https_port = self.plan.ports["apache-https"]
            env["KEYFORGE_WEB_ORIGIN"] = f"https://{self.domain}:{https_port}"
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
            self.postgres.ensure_app_role(self.creds.postgres_app_password)
            for service in self.services:
                service.start()
            self.wait_healthy()
            if self.apache is not None:
                self.apache.start()
                self.balancer = BalancerManager(
                    https_port=self.apache.https_port,
                    vhost=f"api.{self.domain}",
                    ca_cert=self.apache.tls.ca_cert,
                    token=self.apache.admin_token,
                )
        except BaseException:
            self.stop()
            raise

    def wait_healthy(
        self, services: list[Service] | None = None, timeout_s: float = HEALTH_TIMEOUT_S
    ) -> None:
        deadline = time.monotonic() + timeout_s
        pending = list(self.services if services is None else services)
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
                        healthy = client.get(f"{service.url}/health").status_code == 200
                    except httpx.HTTPError:
                        healthy = False
                    if healthy and listens(service.process.pid, service.port):
                        pending.remove(service)
                if pending and time.monotonic() > deadline:
                    names = ", ".join(s.name for s in pending)
                    raise TimeoutError(f"not healthy after {timeout_s:.0f}s: {names}")
                time.sleep(0.2)

    def pids(self) -> dict[str, int]:
        pids = {"valkey": self.valkey.pid, "postgres": self.postgres.pid}
        pids.update({s.name: s.process.pid for s in self.services if s.process})
        if self.apache is not None and self.apache.process is not None:
            pids["apache"] = self.apache.pid
        return pids

    def restart_hive(self, hive: Service, env: Mapping[str, str | None]) -> None:
        """Restart one hive with ``env`` applied (None unsets), without failing a request.

        The stopping hive drains: Apache's health check takes it out, and it
        finishes what it was given (keyforge_shared.shutdown). Apache routes to
        it again once its health check passes, and only then is the next hive
        restarted, so no two are out at once.
        """
        hive.stop()
        for name, value in env.items():
            if value is None:
                hive.env.pop(name, None)
            else:
                hive.env[name] = value
        hive.failures = 0
        hive.start()
        self.wait_healthy([hive])
        if self.balancer is not None:
            self.balancer.wait_usable(hive.url)

    def tend(self) -> bool:
        """Restart whatever died, with capped backoff; True when a PID changed."""
        changed = False
        now = time.monotonic()
        servers: dict[str, ValkeyServer | PostgresServer | ApacheServer] = {
            "valkey": self.valkey,
            "postgres": self.postgres,
        }
        if self.apache is not None:
            servers["apache"] = self.apache
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
                if now - service.started_at > STABLE_RUN_S:
                    service.failures = 0
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
        """Ingress first, then services, then the servers they use; every child waited for.

        The services stop together: each drains for a few seconds first.
        """
        if self.balancer is not None:
            self.balancer.close()
        if self.apache is not None:
            self.apache.stop()
        with ThreadPoolExecutor(len(self.services)) as pool:
            list(pool.map(Service.stop, self.services))
        self.postgres.stop()
        self.valkey.stop()
