"""One simulated node of ``keyforge swarm``: a real node's protocol without the CPU work.

It registers, heartbeats at the interval the hive asks for, polls for leases
(without holding a long poll open: the swarm shares one connection pool) and,
while it holds a lease, the swarm's submitter sends results in its name.
Like a real node it re-reads the secret file on 401, registers again on 404
``unknown_node`` (or a token the hive does not know), keeps the token its
first registration got (in memory: a new swarm run has none, so an id claimed
by an earlier run is given up for a new one), sends it on every call, waits
out a 429's ``Retry-After``, and gives a lease up when the hive refuses a
result for it.
"""

from __future__ import annotations

import asyncio
import random
import secrets
import time
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from keyforge_shared.client.backoff import pause
from keyforge_shared.client.secret_source import SecretSource
from keyforge_shared.protocol import headers as protocol_headers
from keyforge_shared.protocol.jobs import LayoutScore, LeaseAnswer, ResultIn, ScoreIn
from keyforge_shared.protocol.nodes import HeartbeatIn, NodeRegistration, Registered
from keyforge_shared.strict_input import parse_uint
from keyforge_swarm.fasthttp import FastHttpClient, Reply
from keyforge_swarm.report import NO_ANSWER, Recorder

Answer = TypeVar("Answer", bound=BaseModel)
# FastHttpClient keeps header names lower-case.
INTERVAL_HEADER = protocol_headers.HEARTBEAT_INTERVAL.lower()
DEFAULT_INTERVAL_S = 10.0
POLL_S = 5.0  # between lease polls while a node holds no lease
HOLD_S = (10.0, 30.0)  # how long a node works a lease before it polls again
MAX_RETRY_AFTER_S = 60.0


def retry_after_s(reply: Reply) -> float:
    """A 429's ``Retry-After`` (whole seconds), bounded; 1 s when it is unreadable."""
    seconds = parse_uint(reply.headers.get("retry-after", "").strip(), max_digits=6)
    return min(float(seconds if seconds is not None else 1), MAX_RETRY_AFTER_S)


def error_code(reply: Reply) -> str:
    try:
        body = reply.json()
    except ValueError:
        return ""
    return str(body.get("error", "")) if isinstance(body, dict) else ""


@dataclass
class Swarm:
    """What every simulated node shares: the pool, the secret, the recorder, job answers."""

    client: FastHttpClient
    secret: SecretSource
    recorder: Recorder
    stopping: asyncio.Event
    leased: dict[str, SimNode] = field(default_factory=dict)
    scored: dict[str, asyncio.Task[tuple[str, float] | None]] = field(default_factory=dict)
    rng: random.Random = field(default_factory=random.Random)

    async def call(
        self,
        call: str,
        method: str,
        path: str,
        body: BaseModel | None = None,
        *,
        token: str | None = None,
    ) -> Reply | None:
        """One request as the node holding ``token``, recorded; a 401 re-reads the secret
        and retries once; a 429 is answered after waiting its Retry-After out."""
        payload = body.model_dump_json(exclude_none=True).encode() if body is not None else b""
        for attempt in (1, 2):
            headers = {protocol_headers.NODE_SECRET: self.secret.current()}
            if token is not None:
                headers[protocol_headers.NODE_TOKEN] = token
            if body is not None:
                headers["Content-Type"] = "application/json"
            started = time.perf_counter()
            try:
                reply = await self.client.request(method, path, body=payload, headers=headers)
            except (
                OSError,
                EOFError,
                asyncio.IncompleteReadError,
                TimeoutError,
                ValueError,
            ) as exc:
                ms = (time.perf_counter() - started) * 1000
                self.recorder.record(call, NO_ANSWER, ms, type(exc).__name__)
                return None
            self.recorder.record(call, str(reply.status), (time.perf_counter() - started) * 1000)
            if reply.status == 401 and attempt == 1 and self.secret.refresh():
                continue
            if reply.status == 429:
                await pause(self.stopping, retry_after_s(reply))
            return reply
        return None

    def job_result(
        self, job_id: str, config: dict[str, Any], token: str | None
    ) -> asyncio.Task[tuple[str, float] | None]:
        """The job's reference layout and its score, asked of the hive once per job
        (by the first node that needs it, with its token)."""
        task = self.scored.get(job_id)
        if task is None:
            task = asyncio.create_task(self._score_reference(job_id, config, token))
            self.scored[job_id] = task
        return task

    async def _score_reference(
        self, job_id: str, config: dict[str, Any], token: str | None
    ) -> tuple[str, float] | None:
        layout = reference_with_pins(config)
        if layout is None:
            return None
        body = ScoreIn(job_id=job_id, layout=layout)
        reply = await self.call("score", "POST", "/score", body, token=token)
        scored = parsed(reply, LayoutScore)
        if scored is None:
            self.scored.pop(job_id, None)  # ask again with the next lease
            return None
        return layout, scored.score


def parsed(reply: Reply | None, model: type[Answer]) -> Answer | None:
    """A 200 answer as its protocol model; None for anything else."""
    if reply is None or reply.status != 200:
        return None
    try:
        return model.model_validate_json(reply.body)
    except ValidationError:
        return None


def reference_with_pins(config: dict[str, Any]) -> str | None:
    """The first layout of the definition with ``slot:KC_X`` pins swapped into place; None
    where the pins use another form (that job is not submitted to, cheaply or not)."""
    layouts = config.get("definition", {}).get("layouts") or {}
    if not layouts:
        return None
    keys = str(next(iter(layouts.values()))).split()
    for pair in filter(None, (p.strip() for p in str(config.get("pinned_keys") or "").split(","))):
        slot_text, _, keycode = pair.partition(":")
        parsed = parse_uint(slot_text.strip(), max_digits=6)
        slot = -1 if parsed is None else parsed
        if not 0 <= slot < len(keys) or keycode.strip() not in keys:
            return None
        donor = keys.index(keycode.strip())
        keys[slot], keys[donor] = keys[donor], keys[slot]
    return " ".join(keys)


@dataclass
class Lease:
    job_id: str
    lease_id: str
    config: dict[str, Any]
    until: float


class SimNode:
    def __init__(self, swarm: Swarm, node_id: str, token: str | None = None) -> None:
        self.swarm, self.node_id = swarm, node_id
        self.interval_s = DEFAULT_INTERVAL_S
        self.lease: Lease | None = None
        self.token = token  # from the registration that claimed node_id (this run or before)

    def registration(self) -> NodeRegistration:
        return NodeRegistration(
            node_id=self.node_id,
            cpu_model="keyforge swarm (simulated)",
            cores=4,
            l2_cache_kb=512,
            ops_per_sec=30_000.0,
            arch="simulated",
            labels={"swarm": "true"},
        )

    async def register(self) -> bool:
        reply = await self.swarm.call(
            "register", "POST", "/nodes/register", self.registration(), token=self.token
        )
        if reply is not None and reply.status == 409 and error_code(reply) == "node_id_taken":
            # Claimed by a token this run does not hold (an earlier run's): a new id.
            self.node_id = f"{self.node_id.split(':')[0]}:{secrets.token_hex(4)}"
            self.token = None
            return False
        registered = parsed(reply, Registered)
        if registered is None:
            return False
        if registered.node_token is not None:
            self.token = registered.node_token
        self.interval_s = registered.heartbeat_interval_s or DEFAULT_INTERVAL_S
        return True

    async def call(
        self, call: str, method: str, path: str, body: BaseModel | None = None
    ) -> Reply | None:
        """A call of this node: with its token; a token the hive does not know (a
        fleet reset) is answered by registering again."""
        reply = await self.swarm.call(call, method, path, body, token=self.token)
        if reply is not None and reply.status == 401 and error_code(reply) == "node_token_required":
            await self.register()
            return None
        return reply

    async def run(self, start_after_s: float) -> None:
        stopping = self.swarm.stopping
        if await pause(stopping, start_after_s):
            return
        while not await self.register():
            if await pause(stopping, POLL_S):
                return
        await asyncio.gather(self._beat_loop(), self._lease_loop())
        self.swarm.leased.pop(self.node_id, None)

    async def _beat_loop(self) -> None:
        loop = asyncio.get_running_loop()
        next_at = loop.time() + self.interval_s * self.swarm.rng.random()
        while not await pause(self.swarm.stopping, next_at - loop.time()):
            job_id = self.lease.job_id if self.lease else None
            beat = HeartbeatIn(ips=30_000.0 if job_id else 0.0, job_id=job_id)
            reply = await self.call("heartbeat", "POST", f"/nodes/{self.node_id}/heartbeat", beat)
            if reply is not None and reply.status == 404:
                await self.register()
            elif reply is not None and INTERVAL_HEADER in reply.headers:
                self.interval_s = float(reply.headers[INTERVAL_HEADER])
            next_at = max(next_at + self.interval_s, loop.time())

    async def _lease_loop(self) -> None:
        rng = self.swarm.rng
        while not await pause(self.swarm.stopping, POLL_S * rng.uniform(0.5, 1.5)):
            if self.lease is not None:
                if time.monotonic() < self.lease.until:
                    continue
                self.drop_lease()
            path = f"/jobs/queue?node_id={self.node_id}&wait=0"
            reply = await self.call("lease", "GET", path)
            if reply is None:
                continue
            if reply.status == 404:
                await self.register()
                continue
            answer = parsed(reply, LeaseAnswer)
            if answer is not None and answer.job_id and answer.lease_id:
                self.lease = Lease(
                    answer.job_id,
                    answer.lease_id,
                    answer.config or {},
                    time.monotonic() + rng.uniform(*HOLD_S),
                )
                self.swarm.leased[self.node_id] = self

    def drop_lease(self) -> None:
        self.lease = None
        self.swarm.leased.pop(self.node_id, None)

    async def submit(self) -> None:
        lease = self.lease
        if lease is None:
            return
        answer = await self.swarm.job_result(lease.job_id, lease.config, self.token)
        if answer is None or self.lease is not lease:
            return
        layout, score = answer
        body = ResultIn(
            job_id=lease.job_id,
            layout=layout,
            score=score,
            node_id=self.node_id,
            lease_id=lease.lease_id,
        )
        reply = await self.call("result", "POST", "/results", body)
        if reply is not None and reply.status == 409:
            self.drop_lease()
