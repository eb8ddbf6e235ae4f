"""Reaching the local stack's Apache the way clients do, and simulated nodes that load it.

``*.localhost`` does not resolve on this machine: every client here connects
to 127.0.0.1 and presents the virtual host as ``Host`` and TLS SNI, and
verifies the certificate against the stack's dev CA.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import ssl
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from keyforge_devstack.apache import find_apache
from keyforge_shared.protocol import headers as wire
from keyforge_swarm.fasthttp import FastHttpClient
from tests.devstack.test_up import keyforge

# A node that lost a request backs off this long before it sends it again.
RETRY_LOST_AFTER_S = 0.2
SUBMIT_EVERY = 8
QWERTY = "KC_Q KC_W KC_E KC_R KC_T KC_Y KC_U KC_I KC_O KC_P"


@dataclass(frozen=True)
class Stack:
    """A running ``keyforge up --detach`` and what its ``stack.json`` says."""

    data_dir: Path
    info: dict[str, Any]
    output: str = ""

    @property
    def domain(self) -> str:
        return str(self.info["domain"])

    @property
    def https_port(self) -> int:
        return int(self.info["apache"]["https_port"])

    @property
    def http_port(self) -> int:
        return int(self.info["apache"]["http_port"])

    def host(self, vhost: str = "") -> str:
        return f"{vhost}.{self.domain}" if vhost else self.domain

    def tls(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=self.info["apache"]["ca_cert"])

    def secret(self, role: str = "hive") -> str:
        return Path(self.info["secret_files"][role]).read_text().strip()

    def get(self, vhost: str, path: str, **kwargs: Any) -> httpx.Response:
        """One request on a fresh TLS connection to ``vhost``, verified against the dev CA."""
        return self.request("GET", vhost, path, **kwargs)

    def request(
        self,
        method: str,
        vhost: str,
        path: str,
        *,
        headers: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        host = self.host(vhost)
        with httpx.Client(verify=self.tls(), timeout=10.0) as client:
            return client.request(
                method,
                f"https://127.0.0.1:{self.https_port}{path}",
                headers={"Host": f"{host}:{self.https_port}", **(headers or {})},
                extensions={"sni_hostname": host},
                **kwargs,
            )

    def fast_client(self, vhost: str, size: int) -> FastHttpClient:
        host = self.host(vhost)
        return FastHttpClient(
            "127.0.0.1",
            self.https_port,
            size=size,
            host_header=f"{host}:{self.https_port}",
            tls=self.tls(),
            server_hostname=host,
            timeout_s=15.0,
        )


def require_apache() -> None:
    if find_apache() is None:
        pytest.skip("Apache httpd is not installed (bin/ensure-apache installs Debian's apache2)")


@contextlib.contextmanager
def running_stack(data_dir: Path, *args: str) -> Iterator[Stack]:
    """``keyforge up --detach`` with Apache; stopped (by PID, via ``keyforge down``) after."""
    require_apache()
    try:
        result = keyforge("up", "--detach", "--data-dir", str(data_dir), *args)
        assert result.returncode == 0, result.stdout + result.stderr
        info = json.loads((data_dir / "stack.json").read_text())
        assert info["apache"]["running"] is True, info["apache"]
        yield Stack(data_dir, info, result.stdout)
    finally:
        keyforge("down", "--data-dir", str(data_dir))


@dataclass
class LoadReport:
    """Every answer by status, and the node-level outcome of every heartbeat and submission."""

    by_status: Counter[int] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    beats: int = 0
    submissions: int = 0
    failed: int = 0
    reauthenticated: int = 0
    retried: int = 0

    def summary(self) -> str:
        return (
            f"beats={self.beats} submissions={self.submissions} failed={self.failed} "
            f"reauth={self.reauthenticated} retried={self.retried} "
            f"by_status={dict(self.by_status)} errors={dict(self.errors)}"
        )


@dataclass
class _Node:
    node_id: str
    secret: str
    beats: int = 0
    token: str | None = None  # its claiming registration's; sent on every call after it

    def registration(self) -> dict[str, Any]:
        return {
            "node_id": self.node_id,
            "cpu_model": "Simulated CPU",
            "cores": 4,
            "l2_cache_kb": 512,
            "ops_per_sec": 1e6,
        }


# Tokens the simulated nodes were given, per stack: a later run of the same node ids on
# the same stack re-registers with them, as a real node does from its state dir.
_KEPT_TOKENS: dict[tuple[Path, str], str] = {}


class SimulatedNodes:
    """N nodes that register, heartbeat and now and then submit a layout through Apache.

    Like real nodes, a node that gets 401 re-reads its secret file and sends
    the request again, and one the hive does not know registers again. A
    request counts as failed when its final answer is not a success or no
    answer came. A request the hive died holding (the connection closed
    unanswered, or Apache's 502) is a failed request, unless ``retry_lost``:
    then the node sends it once more, and the retry is counted.
    """

    def __init__(
        self, stack: Stack, count: int, interval_s: float, *, retry_lost: bool = False
    ) -> None:
        self.stack = stack
        self.count = count
        self.interval_s = interval_s
        self.retry_lost = retry_lost
        self._registered = 0
        self._all_registered = asyncio.Event()
        self.report = LoadReport()
        self.secret_file = Path(stack.info["secret_files"]["hive"])
        self._stop = asyncio.Event()
        self.tokens: dict[str, str | None] = {}  # node id -> its token, once registered

    async def _send(
        self, client: FastHttpClient, node: _Node, path: str, body: dict[str, Any]
    ) -> int:
        headers = {wire.NODE_SECRET: node.secret}
        if node.token is not None:
            headers[wire.NODE_TOKEN] = node.token
        try:
            reply = await client.post_json(path, body, headers)
        except (OSError, EOFError, asyncio.IncompleteReadError, TimeoutError) as exc:
            self.report.errors[type(exc).__name__] += 1
            return 0
        self.report.by_status[reply.status] += 1
        if reply.status == 200 and path == "/nodes/register":
            node.token = reply.json().get("node_token") or node.token
        return reply.status

    async def _call(
        self, client: FastHttpClient, node: _Node, path: str, body: dict[str, Any]
    ) -> bool:
        status = await self._send(client, node, path, body)
        if status in (0, 502) and self.retry_lost:
            self.report.retried += 1
            await asyncio.sleep(RETRY_LOST_AFTER_S)
            status = await self._send(client, node, path, body)
        if status == 401:
            node.secret = self.secret_file.read_text().strip()
            self.report.reauthenticated += 1
            status = await self._send(client, node, path, body)
        if status == 404 and path.endswith("/heartbeat"):
            await self._send(client, node, "/nodes/register", node.registration())
            status = await self._send(client, node, path, body)
        ok = 200 <= status < 300
        self.report.failed += not ok
        return ok

    async def _beat(self, client: FastHttpClient, node: _Node) -> None:
        await self._call(client, node, f"/nodes/{node.node_id}/heartbeat", {"ips": 1000.0})
        self.report.beats += 1
        node.beats += 1
        if node.beats % SUBMIT_EVERY == 0:
            # A write that goes all the way to Postgres, beside the Valkey-only beats.
            layout = {"name": f"{node.node_id} #{node.beats}", "layout": QWERTY, "author": "sim"}
            await self._call(client, node, "/submissions", layout)
            self.report.submissions += 1

    async def _node(self, client: FastHttpClient, index: int) -> None:
        node = _Node(f"sim-{index:03d}", self.secret_file.read_text().strip())
        node.token = _KEPT_TOKENS.get((self.stack.data_dir, node.node_id))
        status = await self._send(client, node, "/nodes/register", node.registration())
        assert status == 200, f"{node.node_id} could not register: {status}"
        self.tokens[node.node_id] = node.token
        if node.token is not None:
            _KEPT_TOKENS[(self.stack.data_dir, node.node_id)] = node.token
        self._registered += 1
        if self._registered == self.count:
            self._all_registered.set()
        # Spread the nodes over one interval, as independent machines are.
        await asyncio.sleep(self.interval_s * index / self.count)
        loop = asyncio.get_running_loop()
        next_at = loop.time()
        while not self._stop.is_set():
            await self._beat(client, node)
            next_at += self.interval_s
            await asyncio.sleep(max(0.0, next_at - loop.time()))

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[LoadReport]:
        client = self.stack.fast_client("api", size=self.count)
        tasks = [asyncio.create_task(self._node(client, i)) for i in range(self.count)]
        try:
            async with asyncio.timeout(60):
                await self._all_registered.wait()
            await asyncio.sleep(self.interval_s)
            yield self.report
        finally:
            self._stop.set()
            await asyncio.gather(*tasks)
            await client.aclose()


def wait_for(predicate: Any, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, f"{what} within {timeout_s}s"
        time.sleep(0.1)
