"""What Apache tells the services, checked on an upstream that echoes what it saw.

The upstream runs under ``keyforge_shared.serve`` exactly as our services do,
trusting X-Forwarded-* from the proxy's address only.
"""

from __future__ import annotations

import os
import secrets
import shutil
import ssl
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from keyforge_devstack.apache import ApacheServer, find_apache, stage_served_files
from keyforge_devstack.embedded import REPO_ROOT
from keyforge_shared.processes import free_port, spawn, stop_process, wait_for_port

DOMAIN = "keyforge.localhost"


@dataclass
class Ingress:
    apache: ApacheServer
    upstream: subprocess.Popen[bytes]
    upstream_port: int

    def request(self, vhost: str, path: str, **kwargs: Any) -> httpx.Response:
        host = f"{vhost}.{DOMAIN}"
        headers = {"Host": host, **kwargs.pop("headers", {})}
        tls = ssl.create_default_context(cafile=str(self.apache.tls.ca_cert))
        with httpx.Client(verify=tls, timeout=10) as client:
            return client.get(
                f"https://127.0.0.1:{self.apache.https_port}{path}",
                headers=headers,
                extensions={"sni_hostname": host},
                **kwargs,
            )


def start_upstream(port: int, log_file: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEYFORGE_")}
    code = (
        "from keyforge_shared.serve import serve; "
        f"serve('tests.devstack.echo_app:create_app', host='127.0.0.1', port={port}, "
        "log_level='warning', trusted_proxies=['127.0.0.1'])"
    )
    process = spawn([sys.executable, "-c", code], env=env, log_file=log_file, cwd=REPO_ROOT)
    wait_for_port(port, timeout_s=30, process=process)
    return process


@pytest.fixture(scope="module")
def ingress(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ingress]:
    binary = find_apache()
    if binary is None:
        pytest.skip("Apache httpd is not installed (bin/ensure-apache installs Debian's apache2)")
    workdir = tmp_path_factory.mktemp("ingress-proxy")
    port = free_port()
    upstream = start_upstream(port, workdir / "upstream.log")
    apache = ApacheServer(
        binary=binary,
        domain=DOMAIN,
        http_port=free_port(),
        https_port=free_port(),
        tls_dir=workdir / "tls",
        hive_upstreams=[f"http://127.0.0.1:{port}"],
        assets_upstream=f"http://127.0.0.1:{port}",
        admin_token=secrets.token_urlsafe(16),
        run_dir=workdir / "apache",
        log_dir=workdir / "logs",
    )
    try:
        apache.start()
        yield Ingress(apache, upstream, port)
    finally:
        apache.stop()
        stop_process(upstream)


def test_request_id_is_generated_passed_on_and_returned(ingress: Ingress) -> None:
    ids = set()
    for vhost in ("api", "assets"):
        response = ingress.request(vhost, "/x", headers={"X-Request-Id": "chosen-by-client"})
        seen = response.json()["headers"]
        assert seen["x-request-id"] == response.headers["x-request-id"]
        assert seen["x-request-id"] != "chosen-by-client"
        ids.add(seen["x-request-id"])
    assert len(ids) == 2


def test_services_learn_the_client_from_the_proxy_only(ingress: Ingress) -> None:
    spoofed = {"X-Forwarded-For": "6.6.6.6", "X-Forwarded-Proto": "http", "Forwarded": "for=6"}
    through_apache = ingress.request("api", "/who", headers=spoofed).json()
    assert through_apache["client"] == "127.0.0.1"
    assert through_apache["scheme"] == "https"
    assert through_apache["headers"]["x-forwarded-for"] == "127.0.0.1"
    assert "forwarded" not in through_apache["headers"]
    assert through_apache["headers"]["x-forwarded-host"] == f"api.{DOMAIN}"

    # The same claim straight from another loopback address is ignored.
    transport = httpx.HTTPTransport(local_address="127.0.0.2")
    with httpx.Client(transport=transport) as client:
        direct = client.get(
            f"http://127.0.0.1:{ingress.upstream_port}/who",
            headers={"X-Forwarded-For": "6.6.6.6", "X-Forwarded-Proto": "https"},
        ).json()
    assert direct["client"] == "127.0.0.2"
    assert direct["scheme"] == "http"


def test_api_answers_are_compressed_but_assets_never(ingress: Ingress) -> None:
    gzip = {"Accept-Encoding": "gzip"}
    big = "/" + "x" * 2000
    assert ingress.request("api", big, headers=gzip).headers.get("content-encoding") == "gzip"
    assert "content-encoding" not in ingress.request("assets", big, headers=gzip).headers


def test_no_upstream_left_is_a_json_503_with_retry_after(ingress: Ingress) -> None:
    stop_process(ingress.upstream)
    for vhost in ("api", "assets"):
        response = ingress.request(vhost, "/health")
        assert response.status_code == 503, vhost
        assert response.headers["content-type"] == "application/json"
        assert response.headers["retry-after"] == "2"
        assert response.json()["error"] == "service_unavailable"


def test_files_workers_cannot_reach_are_staged_world_readable(tmp_path: Path) -> None:
    private = tmp_path / "checkout"
    (private / "conf").mkdir(parents=True)
    (private / "web").mkdir()
    (private / "conf" / "httpd.conf").write_text("# conf\n")
    (private / "web" / "index.html").write_text("<!doctype html>\n")
    private.chmod(0o700)
    conf, web, staged = stage_served_files(private / "conf", private / "web")
    if os.geteuid() != 0:
        # Workers run as ourselves: they read the checkout where it is.
        assert (conf, web, staged) == (private / "conf", private / "web", None)
        return
    assert staged is not None
    try:
        assert (conf / "httpd.conf").read_text() == "# conf\n"
        assert (web / "index.html").stat().st_mode & 0o004
        for directory in (staged, conf, web):
            assert directory.stat().st_mode & 0o005 == 0o005
    finally:
        shutil.rmtree(staged)
