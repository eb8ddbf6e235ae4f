"""The ingress end to end: the real Apache in front of a real `keyforge up --hives 2` stack.

Clients connect to 127.0.0.1 and name the virtual host in ``Host`` and SNI;
TLS is verified against the stack's generated dev CA. One stack serves the
whole module (booting it is the slow part); tests that restart hives wait
until the fleet is whole again before they end.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import ssl
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from keyforge_shared.processes import pid_alive
from keyforge_shared.protocol import headers as wire
from tests.devstack.ingress_support import SimulatedNodes, Stack, running_stack, wait_for
from tests.devstack.test_up import keyforge

pytestmark = pytest.mark.stack

NODES = 50
DEFAULT_HTTPS_PORT = 8443
SQUATTED_PORTS = (DEFAULT_HTTPS_PORT, 3000, 3002)
BEAT_INTERVAL_S = 0.25
SECURITY_HEADERS = {
    "strict-transport-security": "max-age=31536000; includeSubDomains",
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "strict-origin-when-cross-origin",
}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    data_dir = tmp_path_factory.mktemp("ingress") / "fleet"
    # Other programs hold the default https and hive ports, as happens on a
    # desktop. Holding the hive ports also keeps the hive restarts below from
    # leaving TIME_WAIT connections on the defaults the next tests plan with.
    with contextlib.ExitStack() as held:
        for port in SQUATTED_PORTS:
            squatter = held.enter_context(socket.socket())
            squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            with contextlib.suppress(OSError):
                squatter.bind(("127.0.0.1", port))
                squatter.listen()
        with running_stack(data_dir, "--hives", "2") as stack:
            yield stack


def current(stack: Stack) -> Stack:
    return Stack(stack.data_dir, json.loads((stack.data_dir / "stack.json").read_text()))


def wait_whole(stack: Stack, timeout_s: float = 30.0) -> Stack:
    """Until every hive answers /health directly and Apache routes to each of them."""

    def whole() -> bool:
        info = current(stack).info
        if not all(pid_alive(pid) for pid in info["pids"].values()):
            return False
        try:
            for url in info["hives"]:
                if httpx.get(f"{url}/health", timeout=2).status_code != 200:
                    return False
        except httpx.HTTPError:
            return False
        log = (stack.data_dir / "logs" / "apache-access.log").read_text().splitlines()[-40:]
        return all(any(f"upstream={url}" in line for line in log) for url in info["hives"])

    def poke() -> bool:
        for _ in range(8):
            stack.get("api", "/livez")
        return whole()

    wait_for(poke, timeout_s, "the fleet whole again")
    return current(stack)


def test_stack_json_records_apache(stack: Stack) -> None:
    apache = stack.info["apache"]
    assert apache["running"] is True
    assert apache["https_port"] != DEFAULT_HTTPS_PORT
    assert f"port {DEFAULT_HTTPS_PORT} is busy; apache-https uses" in stack.output
    assert isinstance(apache["http_port"], int)
    assert isinstance(apache["https_port"], int)
    assert Path(apache["ca_cert"]).is_absolute()
    port = stack.https_port
    assert stack.info["urls"] == {
        "api": f"https://api.{stack.domain}:{port}",
        "assets": f"https://assets.{stack.domain}:{port}",
        "web": f"https://{stack.domain}:{port}",
    }
    assert pid_alive(stack.info["pids"]["apache"])


def test_each_host_reaches_its_service(stack: Stack) -> None:
    api = stack.get("api", "/health")
    assert api.status_code == 200
    assert api.json()["checks"] == {"postgres": "ok", "valkey": "ok"}
    stats = stack.get("api", "/cluster/stats")
    assert stats.status_code == 200
    assert "nodes_online" in stats.json()

    manifest = stack.get("assets", "/manifest")
    assert manifest.status_code == 200
    assert manifest.json()["files"]

    page = stack.get("", "/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "<title>KeyForge fleet</title>" in page.text
    # The landing page's own files pass its CSP.
    assert stack.get("", "/style.css").headers["content-type"].startswith("text/css")


def test_unknown_host_gets_404_from_apache(stack: Stack) -> None:
    for host in ("evil.example", f"nope.{stack.domain}", "127.0.0.1"):
        response = stack.get("", "/health", headers={"Host": host})
        assert response.status_code == 404, host
        assert response.headers.get("server") == "Apache"
    plain = httpx.get(
        f"http://127.0.0.1:{stack.http_port}/health", headers={"Host": "evil.example"}
    )
    assert plain.status_code == 404


def test_http_redirects_to_https(stack: Stack) -> None:
    for vhost in ("", "api", "assets"):
        host = stack.host(vhost)
        response = httpx.get(
            f"http://127.0.0.1:{stack.http_port}/health?x=1",
            headers={"Host": f"{host}:{stack.http_port}"},
        )
        assert response.status_code == 301
        assert response.headers["location"] == f"https://{host}:{stack.https_port}/health?x=1"


def test_every_security_header_on_every_host(stack: Stack) -> None:
    for vhost, path in (("", "/"), ("api", "/livez"), ("assets", "/manifest"), ("api", "/nope")):
        response = stack.get(vhost, path)
        for name, value in SECURITY_HEADERS.items():
            assert response.headers.get(name) == value, (vhost, path, name)
        assert len(response.headers["x-request-id"]) >= 20
        assert "default-src 'none'" in response.headers["content-security-policy"]
    csp = stack.get("", "/").headers["content-security-policy"]
    assert "script-src 'self'" in csp
    assert "frame-ancestors 'none'" in csp
    assert f"https://api.{stack.domain}:*" in csp


def test_tls_verifies_against_the_dev_ca_only(stack: Stack) -> None:
    for vhost, path in (("", "/"), ("api", "/livez"), ("assets", "/livez")):
        assert stack.get(vhost, path).status_code == 200
    with (
        httpx.Client(verify=ssl.create_default_context(), timeout=5) as client,
        pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"),
    ):
        client.get(
            f"https://127.0.0.1:{stack.https_port}/",
            headers={"Host": stack.domain},
            extensions={"sni_hostname": stack.domain},
        )


def test_events_stream_through_apache_as_they_happen(stack: Stack) -> None:
    host = stack.host("api")
    with httpx.Client(verify=stack.tls(), timeout=httpx.Timeout(10, read=5)) as client:
        started = time.monotonic()
        with client.stream(
            "GET",
            f"https://127.0.0.1:{stack.https_port}/events",
            headers={"Host": host, "Accept-Encoding": "gzip"},
            extensions={"sni_hostname": host},
        ) as stream:
            assert stream.status_code == 200
            assert stream.headers["content-type"].startswith("text/event-stream")
            assert "content-encoding" not in stream.headers
            chunks = stream.iter_raw()
            first = next(chunks)
            assert time.monotonic() - started < 1.0, "first byte later than 1 s"
            assert first.startswith(b"retry:")

            node_id = f"sse-{os.getpid()}"
            registered = time.monotonic()
            reply = stack.request(
                "POST",
                "api",
                "/nodes/register",
                headers={wire.NODE_SECRET: stack.secret()},
                json={
                    "node_id": node_id,
                    "cpu_model": "x",
                    "cores": 2,
                    "l2_cache_kb": None,
                    "ops_per_sec": 1.0,
                },
            )
            assert reply.status_code == 200
            seen = b""
            while f'"node_id":"{node_id}"'.encode() not in seen:
                seen += next(chunks)
            assert b"event: node_status" in seen
            # Functional bound only: the event was not held back in a buffer.
            assert time.monotonic() - registered < 3.0


def test_if_none_match_through_apache_is_304(stack: Stack) -> None:
    manifest = stack.get("assets", "/manifest").json()
    path, entry = next(iter(manifest["entries"].items()))
    headers = {"Accept-Encoding": "gzip, br"}
    full = stack.get("assets", f"/{path}", headers=headers)
    assert full.status_code == 200
    assert full.headers["etag"] == f'"{entry["sha256"]}"'
    assert "content-encoding" not in full.headers
    again = stack.get(
        "assets", f"/{path}", headers={**headers, "If-None-Match": full.headers["etag"]}
    )
    assert again.status_code == 304
    assert again.content == b""


async def _kill_under_load(stack: Stack, sig: int) -> SimulatedNodes:
    # After SIGKILL the requests the hive was serving are lost with it (Apache
    # answers 502 or closes the client connection unanswered, so the client
    # may retry), and nodes send those beats again; every other request fails
    # over to the other hive.
    nodes = SimulatedNodes(stack, NODES, BEAT_INTERVAL_S, retry_lost=sig == signal.SIGKILL)
    killed = stack.info["pids"]["hive-0"]
    async with nodes.running():
        os.kill(killed, sig)
        # The supervisor restarts it; the load goes on until Apache uses it again.
        await asyncio.to_thread(
            wait_for,
            lambda: current(stack).info["pids"]["hive-0"] != killed,
            30,
            "hive-0 restarted",
        )
        await asyncio.to_thread(wait_whole, stack)
        await asyncio.sleep(1.0)
    return nodes


async def _rotate_under_load(stack: Stack, *args: str) -> SimulatedNodes:
    nodes = SimulatedNodes(stack, NODES, BEAT_INTERVAL_S)
    async with nodes.running():
        rotation = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "keyforge_cli", "secret", "rotate", *args
        )
        assert await asyncio.wait_for(rotation.wait(), 120) == 0
        await asyncio.sleep(1.0)
    return nodes


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["SIGTERM", "SIGKILL"])
def test_killing_a_hive_under_load_fails_no_request(stack: Stack, sig: int) -> None:
    stack = wait_whole(stack)
    nodes = asyncio.run(_kill_under_load(stack, sig))
    report = nodes.report
    print(f"\nkill -{signal.Signals(sig).name} hive-0 under {NODES} nodes: {report.summary()}")
    assert report.beats > NODES * 4
    assert report.submissions > 0
    assert report.failed == 0, report.summary()
    assert set(report.by_status) <= {200, 201, 204}, report.summary()
    if sig == signal.SIGTERM:
        # A stopping hive finishes what it was given and takes no more: no
        # request is even retried.
        assert not report.errors, report.summary()
        assert report.retried == 0, report.summary()


def test_secret_rotation_under_load_fails_no_request(stack: Stack) -> None:
    stack = wait_whole(stack)
    old = stack.secret("hive")
    nodes = asyncio.run(_rotate_under_load(stack, "--data-dir", str(stack.data_dir)))
    report = nodes.report
    print(f"\nsecret rotate under {NODES} nodes: {report.summary()}")
    assert report.submissions > 0
    assert report.failed == 0, report.summary()
    assert not report.errors, report.summary()
    assert set(report.by_status) <= {200, 201, 204, 401}, report.summary()
    assert report.reauthenticated >= 1, "no node ever had to switch secrets"

    rotated = current(stack)
    new = rotated.secret("hive")
    assert new != old
    assert rotated.info["secrets"]["hive"] == new
    beat = {"ips": 1.0}
    path = "/nodes/sim-000/heartbeat"
    for _ in range(4):  # both hives
        refused = rotated.request("POST", "api", path, headers={wire.NODE_SECRET: old}, json=beat)
        assert refused.status_code == 401
        accepted = rotated.request("POST", "api", path, headers={wire.NODE_SECRET: new}, json=beat)
        assert accepted.status_code == 204


def test_admin_secret_rotation(stack: Stack) -> None:
    stack = wait_whole(stack)
    old = stack.secret("admin")
    result = keyforge("secret", "rotate", "--admin", "--data-dir", str(stack.data_dir))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "every hive refuses the old admin secret" in result.stdout
    assert old not in result.stdout + result.stderr
    rotated = current(stack)
    new = rotated.secret("admin")
    assert new != old
    assert rotated.info["secrets"]["admin"] == new
    for _ in range(4):
        assert rotated.get("api", "/nodes", headers={wire.ADMIN_SECRET: old}).status_code == 401
        assert rotated.get("api", "/nodes", headers={wire.ADMIN_SECRET: new}).status_code == 200


def test_rotate_without_a_fleet_says_so(tmp_path: Path) -> None:
    result = keyforge("secret", "rotate", "--data-dir", str(tmp_path))
    assert result.returncode == 1
    assert "no fleet runs" in result.stdout


def test_without_apache_stack_json_says_not_running(tmp_path: Path) -> None:
    data_dir = tmp_path / "fleet"
    try:
        result = keyforge(
            "up", "--detach", "--no-apache", "--hives", "1", "--data-dir", str(data_dir)
        )
        assert result.returncode == 0, result.stdout + result.stderr
        info = json.loads((data_dir / "stack.json").read_text())
        assert info["apache"] == {
            "running": False,
            "http_port": None,
            "https_port": None,
            "ca_cert": None,
        }
        assert info["urls"]["api"] == info["hives"][0]
        assert "apache" not in info["pids"]
        assert httpx.get(f"{info['urls']['api']}/livez").status_code == 200
    finally:
        keyforge("down", "--data-dir", str(data_dir))


INTERNAL_PATHS = ("/metrics", "/docs", "/redoc", "/openapi.json", "/docs/oauth2-redirect",
                  "/%6detrics", "//metrics", "/metrics/")  # fmt: skip


def test_internal_paths_are_not_public_through_apache(stack: Stack) -> None:
    for vhost in ("api", "assets"):
        for path in INTERNAL_PATHS:
            response = stack.get(vhost, path)
            assert response.status_code in (403, 404), (vhost, path, response.status_code)
            assert response.json()["error"], (vhost, path)
            assert "# HELP" not in response.text
    # Still served on the services' own ports.
    hive = stack.info["hives"][0]
    assert "# HELP" in httpx.get(f"{hive}/metrics").text
    assert httpx.get(f"{hive}/openapi.json").json()["paths"]
