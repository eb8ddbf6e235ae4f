"""The node's calls to the hive, with the contract's answers turned into a few outcomes.

* ``HiveUnavailable``: no answer, or one that says "later" (429, 502-504,
  any 5xx). The caller backs off and tries again.
* ``UnknownNode``: 404 ``unknown_node``; the caller registers again.
* ``AuthRefused``: 401 even after re-reading the secret; the caller backs off
  (a rotation may not have reached the secret file yet) and tries again.
* ``Refused``: any other 4xx, with its machine code; what it means depends
  on the call.

A 401 re-reads the secret source and retries once at once: that is how a
rotated secret reaches a running node.
"""

from __future__ import annotations

import email.utils
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx

from keyforge_shared.client.secret_source import SecretSource
from keyforge_shared.protocol import headers
from keyforge_shared.protocol.fleet import NodeConfigView

AUTH_HEADER = "X-Keyforge-Secret"
INTERVAL_HEADER = "X-Keyforge-Heartbeat-Interval"
LEASE_WAIT_S = 20.0  # the contract's longest poll
POLL_SLACK_S = 10.0


class HiveUnavailable(Exception):
    def __init__(self, reason: str, retry_after_s: float = 0.0) -> None:
        super().__init__(reason)
        self.retry_after_s = retry_after_s


class UnknownNode(Exception):
    pass


class AuthRefused(Exception):
    pass


class Refused(Exception):
    def __init__(self, status: int, code: str, detail: str, body: dict[str, Any]) -> None:
        super().__init__(f"{status} {code}: {detail}")
        self.status, self.code, self.body = status, code, body


@dataclass(frozen=True)
class Registered:
    tuning: dict[str, Any]
    heartbeat_interval_s: float
    config: NodeConfigView | None  # None from a hive older than layered config


@dataclass(frozen=True)
class BeatAnswer:
    interval_s: float | None  # when the hive wants the next beat, if it said
    config_version: int | None  # the node config version now current, if it said


def _header_number(response: httpx.Response, name: str) -> float | None:
    try:
        return float(response.headers[name])
    except (KeyError, ValueError):
        return None


@dataclass(frozen=True)
class Lease:
    job_id: str
    lease_id: str
    config: dict[str, Any]
    expires_at: datetime
    assets: dict[str, str | None]
    hive_now: datetime  # the hive's clock when it answered, to place the expiry on ours


def _retry_after(response: httpx.Response) -> float:
    try:
        return min(float(response.headers.get("retry-after", "0")), 60.0)
    except ValueError:
        return 0.0


def _error_of(response: httpx.Response) -> tuple[str, str, dict[str, Any]]:
    try:
        body = response.json()
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    return str(body.get("error", "")), str(body.get("detail", ""))[:300], body


def _hive_clock(response: httpx.Response) -> datetime:
    date = response.headers.get("date")
    if date:
        try:
            return email.utils.parsedate_to_datetime(date).astimezone(UTC)
        except (TypeError, ValueError):
            pass
    return datetime.now(UTC)


class HiveClient:
    def __init__(self, client: httpx.AsyncClient, secret: SecretSource) -> None:
        self.client = client
        self.secret = secret

    async def _call(
        self, method: str, path: str, *, timeout_s: float | None = None, **kwargs: Any
    ) -> httpx.Response:
        timeout = httpx.USE_CLIENT_DEFAULT if timeout_s is None else timeout_s
        for attempt in (1, 2):
            headers = {AUTH_HEADER: self.secret.current()}
            try:
                response = await self.client.request(
                    method, path, headers=headers, timeout=timeout, **kwargs
                )
            except httpx.TransportError as exc:
                raise HiveUnavailable(f"{method} {path}: {type(exc).__name__}") from None
            if response.status_code == 401 and attempt == 1 and self.secret.refresh():
                continue
            break
        status = response.status_code
        if status < 300:
            return response
        code, detail, body = _error_of(response)
        if status == 429 or status >= 500:
            raise HiveUnavailable(f"{method} {path}: {status} {code}", _retry_after(response))
        if status == 401:
            raise AuthRefused(f"the hive refuses the secret in {self.secret.describe()}")
        if status == 404 and code == "unknown_node":
            raise UnknownNode(detail)
        raise Refused(status, code, detail, body)

    async def register(self, registration: dict[str, Any]) -> Registered:
        body = (await self._call("POST", "/nodes/register", json=registration)).json()
        config = body.get("config")
        return Registered(
            body["tuning"],
            float(body.get("heartbeat_interval_s") or 10.0),
            NodeConfigView.model_validate(config) if config else None,
        )

    async def heartbeat(self, node_id: str, telemetry: dict[str, Any]) -> BeatAnswer:
        """Sends one beat; what the hive's answer says about the next beat and the config."""
        response = await self._call("POST", f"/nodes/{node_id}/heartbeat", json=telemetry)
        version = _header_number(response, headers.CONFIG_VERSION)
        return BeatAnswer(
            _header_number(response, INTERVAL_HEADER),
            int(version) if version is not None else None,
        )

    async def node_config(self, node_id: str) -> NodeConfigView:
        response = await self._call("GET", f"/nodes/{node_id}/config")
        return NodeConfigView.model_validate(response.json())

    async def lease(self, node_id: str, wait_s: float = LEASE_WAIT_S) -> Lease | None:
        response = await self._call(
            "GET",
            "/jobs/queue",
            params={"node_id": node_id, "wait": f"{wait_s:g}"},
            timeout_s=wait_s + POLL_SLACK_S,
        )
        body = response.json()
        if not body.get("job_id"):
            return None
        return Lease(
            job_id=body["job_id"],
            lease_id=str(body["lease_id"]),
            config=body["config"],
            expires_at=datetime.fromisoformat(body["lease_expires_at"]).astimezone(UTC),
            assets=dict(body.get("assets") or {}),
            hive_now=_hive_clock(response),
        )

    async def job_status(self, job_id: str) -> str:
        body = (await self._call("GET", f"/jobs/{job_id}")).json()
        return str(body.get("status", ""))

    async def population(self, job_id: str) -> list[str]:
        body = (await self._call("GET", f"/jobs/{job_id}/population")).json()
        return [str(layout) for layout in body.get("layouts", [])]

    async def submit(self, result: dict[str, Any]) -> dict[str, Any]:
        answer: dict[str, Any] = (await self._call("POST", "/results", json=result)).json()
        return answer
