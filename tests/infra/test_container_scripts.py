"""The containers' own scripts, run for real on this machine's Python, Valkey and Apache."""

from __future__ import annotations

import http.server
import os
import secrets
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from redis.exceptions import NoPermissionError

from keyforge_devstack.apache import find_apache, modules_dir
from keyforge_devstack.embedded import REPO_ROOT, VALKEY_USERS, render_valkey_acl, valkey_binary
from keyforge_devstack.tls import ensure_dev_tls
from keyforge_shared.processes import free_port, spawn, stop_process, wait_for_port

DOCKER = REPO_ROOT / "docker"


class _Health(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200 if self.path == "/health" else 503)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def health_server() -> Iterator[int]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Health)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def healthcheck(url: str) -> int:
    script = DOCKER / "healthcheck.py"
    return subprocess.run([sys.executable, script, url], check=False, timeout=10).returncode


def test_healthcheck_script_exits_0_only_on_200(health_server: int) -> None:
    assert healthcheck(f"http://127.0.0.1:{health_server}/health") == 0
    assert healthcheck(f"http://127.0.0.1:{health_server}/down") == 1
    assert healthcheck(f"http://127.0.0.1:{free_port()}/health") == 1
    assert healthcheck("http://example.com/health") != 0


def test_valkey_start_script_serves_the_fleets_acl_users(tmp_path: Path) -> None:
    passwords = {user: secrets.token_hex(16) for user in VALKEY_USERS}
    env = {
        "PATH": os.environ["PATH"],
        "VALKEY_SERVER": str(valkey_binary()),
        "VALKEY_CONF_DIR": str(REPO_ROOT / "infra" / "valkey"),
        "VALKEY_DATA_DIR": str(tmp_path),
        **{f"VALKEY_{user.upper()}_PASSWORD": pw for user, pw in passwords.items()},
    }
    port = free_port()
    script = DOCKER / "valkey" / "start.sh"
    argv: list[str | Path] = ["sh", script, "--port", str(port), "--bind", "127.0.0.1"]
    server = spawn(argv, env=env, log_file=tmp_path / "valkey.log")
    try:
        wait_for_port(port, timeout_s=20, process=server)
        # The shell renders exactly what `keyforge up` renders in Python.
        assert (tmp_path / "users.acl").read_text() == render_valkey_acl(passwords, "kf:")
        assert (tmp_path / "users.acl").stat().st_mode & 0o077 == 0
        for password in passwords.values():
            assert password not in (tmp_path / "users.acl").read_text()
        hive = redis.Redis(port=port, username="hive", password=passwords["hive"])
        assert hive.set("kf:fleet:probe", b"1")
        assets = redis.Redis(port=port, username="assets", password=passwords["assets"])
        with pytest.raises(NoPermissionError):
            assets.set("kf:asset:probe", b"1")
        hive.close()
        assets.close()
    finally:
        stop_process(server)


def test_web_entrypoint_writes_members_and_httpd_accepts_the_config(tmp_path: Path) -> None:
    binary = find_apache()
    if binary is None:
        pytest.skip("Apache httpd is not installed (bin/ensure-apache installs Debian's apache2)")
    tls = ensure_dev_tls(tmp_path / "tls", "keyforge.example")
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    user = "www-data" if os.geteuid() == 0 else os.environ.get("USER", "nobody")
    # The image's environment (docker/web.Dockerfile, compose.yaml), with this
    # machine's paths where the image has its own.
    env = {
        "PATH": os.environ["PATH"],
        "KEYFORGE_HTTPD": str(binary),
        "KEYFORGE_DOMAIN": "keyforge.example",
        "KEYFORGE_APACHE_MODULES": str(modules_dir()),
        "KEYFORGE_APACHE_CONF_DIR": str(REPO_ROOT / "infra" / "apache"),
        "KEYFORGE_APACHE_RUN_DIR": str(run_dir),
        "KEYFORGE_APACHE_USER": user,
        "KEYFORGE_APACHE_GROUP": user,
        "KEYFORGE_APACHE_LISTEN": "127.0.0.1",
        "KEYFORGE_APACHE_HTTP_PORT": "8080",
        "KEYFORGE_APACHE_HTTPS_PORT": "8443",
        "KEYFORGE_PUBLIC_HTTPS_PORT": "443",
        "KEYFORGE_APACHE_ERROR_LOG": "/proc/self/fd/2",
        "KEYFORGE_APACHE_ACCESS_LOG": "/proc/self/fd/1",
        "KEYFORGE_WEB_ROOT": str(REPO_ROOT / "infra" / "web"),
        "KEYFORGE_TLS_CERT_FILE": str(tls.cert),
        "KEYFORGE_TLS_KEY_FILE": str(tls.key),
        "KEYFORGE_HIVE_UPSTREAMS": "http://hive-1:3000 http://hive-2:3000",
        "KEYFORGE_ASSETS_UPSTREAM": "http://assets:3001",
    }
    script = DOCKER / "web" / "entrypoint.sh"
    result = subprocess.run(
        ["sh", script, "-t"], env=env, capture_output=True, text=True, check=False, timeout=30
    )
    assert result.returncode == 0, result.stderr
    assert "Syntax OK" in result.stderr
    assert "not defined" not in result.stderr, result.stderr
    members = (run_dir / "hive-members.conf").read_text().splitlines()
    assert members == [
        "BalancerMember http://hive-1:3000 route=hive-0 ${KEYFORGE_HIVE_MEMBER_OPTIONS}",
        "BalancerMember http://hive-2:3000 route=hive-1 ${KEYFORGE_HIVE_MEMBER_OPTIONS}",
    ]

    bad = subprocess.run(
        ["sh", script, "-t"],
        env={**env, "KEYFORGE_HIVE_UPSTREAMS": "hive-1:3000"},
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    )
    assert bad.returncode == 2
    assert "not an http:// URL" in bad.stderr


def test_scripts_are_posix_sh() -> None:
    checker = shutil.which("checkbashisms")
    scripts = [DOCKER / "web" / "entrypoint.sh", DOCKER / "valkey" / "start.sh"]
    for script in scripts:
        assert script.read_text().startswith("#!/bin/sh\n")
        assert subprocess.run(["sh", "-n", script], check=False).returncode == 0
        if checker:
            assert subprocess.run([checker, script], check=False).returncode == 0
