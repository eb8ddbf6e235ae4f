"""The node's calls to the hive, with the contract's answers turned into a few outcomes.

* ``HiveUnavailable``: no answer, or one that says "later" (429, 502-504,
  any 5xx). The caller backs off and tries again.
* ``UnknownNode``: 404 ``unknown_node``, or 401 ``node_token_required`` (the
  hive does not know the node's token); the caller registers again.
* ``AuthRefused``: 401 even after re-reading the secret; the caller backs off
  (a rotation may not have reached the secret file yet) and tries again.
* ``Refused``: any other 4xx, with its machine code; what it means depends
  on the call.

A 401 re-reads the secret source and retries once at once: that is how a
rotated secret reaches a running node. Requests and answers are the
protocol's models (``keyforge_shared.protocol``), the hive's own; an answer
that does not parse is the hive not answering properly (``HiveUnavailable``).
Every call carries the node's token (``headers.NODE_TOKEN``) once it has one.
"""

from __future__ import annotations

import email.utils
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel, ValidationError

from keyforge_shared.client.secret_source import SecretSource
from keyforge_shared.protocol import headers
from keyforge_shared.protocol.errors import ErrorBody
from keyforge_shared.protocol.fleet import NodeConfigView
from keyforge_shared.protocol.jobs import (
    JobView,
    LeaseAnswer,
    Population,
    ResultAccepted,
    ResultIn,
)
from keyforge_shared.protocol.nodes import HeartbeatIn, NodeRegistration, Registered

Answer = TypeVar("Answer", bound=BaseModel)
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
    def __init__(self, status: int, body: ErrorBody) -> None:
        super().__init__(f"{status} {body.error}: {body.detail}")
        self.status, self.code, self.body = status, body.error, body


@dataclass(frozen=True)
class BeatAnswer:
    interval_s: float | None  # when the hive wants the next beat, if it said
    config_version: int | None  # the node config version now current, if it said


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


def _error_of(response: httpx.Response) -> ErrorBody:
    """The error envelope; one naming only the status where a proxy answered something else."""
    try:
        body = ErrorBody.model_validate_json(response.content)
    except ValidationError:
        return ErrorBody(error="", detail=f"HTTP {response.status_code}")
    body.detail = body.detail[:300]
    return body


def _parsed(response: httpx.Response, model: type[Answer]) -> Answer:
    try:
        return model.model_validate_json(response.content)
    except ValidationError as exc:
        where = f"{response.request.method} {response.request.url.path}"
        problems = exc.error_count()
        raise HiveUnavailable(f"{where}: not a {model.__name__} ({problems} problems)") from None


def _hive_clock(response: httpx.Response) -> datetime:
    date = response.headers.get("date")
    if date:
        try:
            return email.utils.parsedate_to_datetime(date).astimezone(UTC)
        except (TypeError, ValueError):
            pass
    return datetime.now(UTC)


class HiveClient:
    def __init__(
        self, client: httpx.AsyncClient, secret: SecretSource, token: str | None = None
    ) -> None:
        self.client = client
        self.secret = secret
        self.token = token  # set by the session from the first registration's answer

    async def _call(
        self, method: str, path: str, *, timeout_s: float | None = None, **kwargs: Any
    ) -> httpx.Response:
        timeout = httpx.USE_CLIENT_DEFAULT if timeout_s is None else timeout_s
        for attempt in (1, 2):
            secret = {headers.NODE_SECRET: self.secret.current()}
            if self.token is not None:
                secret[headers.NODE_TOKEN] = self.token
            try:
                response = await self.client.request(
                    method, path, headers=secret, timeout=timeout, **kwargs
                )
            except httpx.TransportError as exc:
                raise HiveUnavailable(f"{method} {path}: {type(exc).__name__}") from None
            if response.status_code == 401 and attempt == 1 and self.secret.refresh():
                continue
            break
        status = response.status_code
        if status < 300:
            return response
        error = _error_of(response)
        if status == 429 or status >= 500:
            raise HiveUnavailable(
                f"{method} {path}: {status} {error.error}", _retry_after(response)
            )
        if status == 401 and error.error == "node_token_required":
            raise UnknownNode(error.detail)
        if status == 401:
            raise AuthRefused(f"the hive refuses the secret in {self.secret.describe()}")
        if status == 404 and error.error == "unknown_node":
            raise UnknownNode(error.detail)
        raise Refused(status, error)

    async def register(self, registration: NodeRegistration) -> Registered:
        body = registration.model_dump(mode="json")
        return _parsed(await self._call("POST", "/nodes/register", json=body), Registered)

    async def heartbeat(self, node_id: str, beat: HeartbeatIn) -> BeatAnswer:
        """Sends one beat; what the hive's answer says about the next beat and the config."""
        body = beat.model_dump(mode="json", exclude_none=True)
        response = await self._call("POST", f"/nodes/{node_id}/heartbeat", json=body)
        version = _header_number(response, headers.CONFIG_VERSION)
        return BeatAnswer(
            _header_number(response, headers.HEARTBEAT_INTERVAL),
            int(version) if version is not None else None,
        )

    async def node_config(self, node_id: str) -> NodeConfigView:
        return _parsed(await self._call("GET", f"/nodes/{node_id}/config"), NodeConfigView)

    async def lease(self, node_id: str, wait_s: float = LEASE_WAIT_S) -> Lease | None:
        response = await self._call(
            "GET",
            "/jobs/queue",
            params={"node_id": node_id, "wait": f"{wait_s:g}"},
            timeout_s=wait_s + POLL_SLACK_S,
        )
        answer = _parsed(response, LeaseAnswer)
        if not answer.job_id:
            return None
        if answer.lease_id is None or answer.config is None or answer.lease_expires_at is None:
            raise HiveUnavailable(f"GET /jobs/queue: lease of {answer.job_id} is incomplete")
        return Lease(
            job_id=answer.job_id,
            lease_id=answer.lease_id,
            config=answer.config,
            expires_at=answer.lease_expires_at.astimezone(UTC),
            assets=dict(answer.assets or {}),
            hive_now=_hive_clock(response),
        )

    async def job_status(self, job_id: str) -> str:
        """The job's status (``JobStatus``), as text the work loop compares with its own."""
        return _parsed(await self._call("GET", f"/jobs/{job_id}"), JobView).status

    async def population(self, job_id: str) -> list[str]:
        return _parsed(await self._call("GET", f"/jobs/{job_id}/population"), Population).layouts

    async def submit(self, result: ResultIn) -> ResultAccepted:
        body = result.model_dump(mode="json", exclude_none=True)
        return _parsed(await self._call("POST", "/results", json=body), ResultAccepted)


def _header_number(response: httpx.Response, name: str) -> float | None:
    try:
        return float(response.headers[name])
    except (KeyError, ValueError):
        return None
