"""Runtime settings, live in every process: announced on a channel, kept in one key.

A writer (a hive, after committing the row) calls :func:`announce_settings`:
one script sets ``Keys.runtime_settings`` unless it already holds a newer
version, and publishes the same payload on ``Keys.settings_channel``. Every
hive, gateway and assetmgr runs :func:`follow_settings`, which applies what
the channel brings at once and re-reads the key every ``backstop_s`` (a
message lost while reconnecting). Applying means swapping
:attr:`RuntimeView.current`; every reader takes the value through the view on
each use, so nothing restarts. Both Valkey names are in the event plane, the
one every service's ACL user may read.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from redis.asyncio import Redis
from redis.asyncio.client import PubSub

from keyforge_shared.keys import Keys
from keyforge_shared.loops import consume
from keyforge_shared.runtime_settings import RuntimeSettings, validate_runtime_settings

log = logging.getLogger(__name__)

BACKSTOP_S = 1.0
RETRY_S = 0.5

# KEYS: the settings key, the channel. ARGV: version, payload.
# An older version never replaces a newer one; the same version with other
# data (someone edited the row by hand) does.
_ANNOUNCE = """
local current = redis.call('GET', KEYS[1])
if current == ARGV[2] then return 0 end
if current then
  local ok, decoded = pcall(cjson.decode, current)
  if ok and tonumber(decoded['version']) and tonumber(decoded['version']) > tonumber(ARGV[1]) then
    return 0
  end
end
redis.call('SET', KEYS[1], ARGV[2])
redis.call('PUBLISH', KEYS[2], ARGV[2])
return 1
"""


def encode_settings(version: int, settings: RuntimeSettings) -> str:
    return json.dumps(
        {"version": version, "settings": settings.model_dump()}, separators=(",", ":")
    )


def decode_settings(raw: bytes | str) -> tuple[int, RuntimeSettings] | None:
    """A payload's version and settings; None for anything malformed (logged)."""
    try:
        payload: dict[str, Any] = json.loads(raw)
        version = int(payload["version"])
        data = payload["settings"]
        known = {k: v for k, v in data.items() if k in RuntimeSettings.model_fields}
        return version, validate_runtime_settings(known)
    except (ValueError, KeyError, TypeError, AttributeError, ValidationError) as exc:
        log.warning("ignoring a malformed settings announcement (%s)", type(exc).__name__)
        return None


@dataclass
class RuntimeView:
    """The settings this process applies now; replaced as a whole, never mutated."""

    current: RuntimeSettings
    version: int = 0

    def offer(self, version: int, settings: RuntimeSettings) -> bool:
        """Apply unless older than what is applied; True when something changed."""
        if version < self.version or (version == self.version and settings == self.current):
            return False
        if settings != self.current:
            log.info("runtime settings version %d applied", version)
        self.version, self.current = version, settings
        return True

    def offer_payload(self, raw: bytes | str) -> bool:
        decoded = decode_settings(raw)
        return decoded is not None and self.offer(*decoded)


async def announce_settings(
    valkey: Redis, keys: Keys, version: int, settings: RuntimeSettings
) -> bool:
    """Store and publish a settings version; False when Valkey already had it (or newer)."""
    script = valkey.register_script(_ANNOUNCE)
    changed = await script(
        keys=[keys.runtime_settings(), keys.settings_channel()],
        args=[version, encode_settings(version, settings)],
    )
    return bool(changed)


async def read_announced(valkey: Redis, keys: Keys) -> bytes | None:
    raw = await valkey.get(keys.runtime_settings())
    return raw.encode() if isinstance(raw, str) else raw


@dataclass
class _Subscription:
    """The follower's position: a pub/sub subscription, dropped (and renewed) on any failure."""

    valkey: Redis
    keys: Keys
    view: RuntimeView
    backstop_s: float
    pubsub: PubSub | None = None

    async def read_once(self) -> None:
        """Apply the stored key, then what the channel brings within ``backstop_s``."""
        try:
            if self.pubsub is None:
                self.pubsub = self.valkey.pubsub(ignore_subscribe_messages=True)
                await self.pubsub.subscribe(self.keys.settings_channel())
            # Subscribed first, read second: nothing falls between the two.
            raw = await read_announced(self.valkey, self.keys)
            if raw is not None:
                self.view.offer_payload(raw)
            message = await self.pubsub.get_message(timeout=self.backstop_s)
            while message is not None:
                if message.get("type") == "message":
                    self.view.offer_payload(message["data"])
                message = await self.pubsub.get_message(timeout=0)
        except BaseException:
            pubsub, self.pubsub = self.pubsub, None
            if pubsub is not None:
                await pubsub.aclose()  # type: ignore[no-untyped-call]
            raise


async def follow_settings(
    valkey: Redis, keys: Keys, view: RuntimeView, *, backstop_s: float = BACKSTOP_S
) -> None:
    """Apply announcements as they come, and the stored key every ``backstop_s``; forever.

    The consumer shape of :mod:`keyforge_shared.loops`: one read blocks for
    ``backstop_s`` at most; a failure drops the subscription, is logged and
    retried after ``RETRY_S``.
    """
    subscription = _Subscription(valkey, keys, view, backstop_s)
    await consume("settings follower", subscription.read_once, retry_s=RETRY_S)
