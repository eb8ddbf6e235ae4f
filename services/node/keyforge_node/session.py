"""The node's standing with the hive: registered (again when forgotten), and how to wait it out.

Every loop of the node meets the same failures and answers them the same
way (``recover``): an unknown node registers again (once, however many loops
noticed), a refused secret and an unreachable hive are waited out with
backoff (a 429's Retry-After included). Registration itself retries until a
hive accepts it or the node stops; the token of a claiming registration is
kept, and an id claimed by a token this node does not hold is given up for a
new one.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from keyforge_node.hive_client import (
    AuthRefused,
    HiveClient,
    HiveUnavailable,
    Refused,
    UnknownNode,
)
from keyforge_node.identity import NodeIdentity
from keyforge_shared.client.backoff import Backoff, pause
from keyforge_shared.protocol.fleet import EffectiveConfig, NodeConfigView
from keyforge_shared.protocol.nodes import NodeRegistration, Tuning

log = logging.getLogger(__name__)

DEFAULT_INTERVAL_S = 10.0
# Repeated failures of one kind are logged on the first and then every Nth time.
LOG_EVERY = 10

Recoverable = UnknownNode | HiveUnavailable | AuthRefused


@dataclass
class NodeSession:
    hive: HiveClient
    node_id: str
    registration: NodeRegistration
    stopping: asyncio.Event
    # The hive's Tuning as a plain mapping: the work loop reads its fields by name.
    tuning: Tuning | None = None  # the hive's, from the last registration
    heartbeat_interval_s: float = DEFAULT_INTERVAL_S
    generation: int = 0  # registrations so far
    # The layered config the hive holds for this node, and the version it was computed from.
    config: EffectiveConfig = field(default_factory=EffectiveConfig)
    config_version: int | None = None
    # Called with the new config whenever it changes (the runner resizes its workers).
    on_config: Callable[[EffectiveConfig], None] = lambda _: None
    # Where the id and token are kept (None: not kept, a test's throwaway session).
    identity: NodeIdentity | None = None
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def apply_config(self, view: NodeConfigView) -> None:
        """Take a config the hive answered, unless it is older than the one applied."""
        if self.config_version is not None and view.version < self.config_version:
            return
        changed = view.config != self.config
        self.config, self.config_version = view.config, view.version
        if changed:
            log.info("node config version %d: %s", view.version, view.config.model_dump())
            self.on_config(view.config)

    async def register(self, *, unless_since: int | None = None) -> None:
        """Register, retrying until accepted or stopping. ``unless_since``: skip it if a
        registration happened after that generation (another loop already re-registered)."""
        async with self._lock:
            if unless_since is not None and self.generation != unless_since:
                return
            backoff = Backoff()
            while not self.stopping.is_set():
                try:
                    registered = await self.hive.register(self.registration)
                except (HiveUnavailable, AuthRefused) as exc:
                    report("registration", exc, backoff.failures + 1)
                    retry_after = getattr(exc, "retry_after_s", 0.0)
                    if await pause(self.stopping, backoff.next_delay(retry_after)):
                        return
                    continue
                except Refused as exc:
                    if exc.code == "node_id_taken" and self.identity is not None:
                        self._renew_id()
                        continue
                    raise SystemExit(
                        f"keyforge: the hive refuses this node's registration: {exc}"
                    ) from None
                if registered.node_token is not None:
                    self.hive.token = registered.node_token
                    if self.identity is not None:
                        self.identity.keep(registered.node_token)
                self.tuning = registered.tuning
                self.heartbeat_interval_s = registered.heartbeat_interval_s
                if registered.config is not None:
                    self.apply_config(registered.config)
                self.generation += 1
                log.info(
                    "registered as %s (tuning %s, heartbeat every %gs)",
                    self.node_id,
                    self.tuning,
                    self.heartbeat_interval_s,
                )
                return

    def _renew_id(self) -> None:
        assert self.identity is not None
        old = self.node_id
        self.node_id = self.identity.renew()
        self.registration = self.registration.model_copy(update={"node_id": self.node_id})
        self.hive.token = None
        log.warning("node id %s is claimed by another token; registering as %s", old, self.node_id)

    async def recover(
        self,
        exc: Recoverable,
        backoff: Backoff,
        what: str,
        generation: int,
        *,
        max_wait_s: float | None = None,
    ) -> bool:
        """Deal with one failure of a loop's call; True if the node is stopping."""
        if isinstance(exc, UnknownNode):
            log.info("the hive does not know this node (%s); registering again", what)
            await self.register(unless_since=generation)
            return self.stopping.is_set()
        report(what, exc, backoff.failures + 1)
        delay = backoff.next_delay(getattr(exc, "retry_after_s", 0.0))
        return await pause(self.stopping, min(delay, max_wait_s or delay))


def report(what: str, exc: Exception, streak: int) -> None:
    if streak == 1 or streak % LOG_EVERY == 0:
        log.warning("%s failed (%s; %d in a row); retrying with backoff", what, exc, streak)
