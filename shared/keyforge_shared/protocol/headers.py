"""Every ``X-Keyforge-*`` header of the contract, spelled once (HTTP header names are
case-insensitive; ASGI code that reads raw headers uses the lower-case bytes)."""

from __future__ import annotations

NODE_SECRET = "X-Keyforge-Secret"
ADMIN_SECRET = "X-Keyforge-Admin"
NODE_ID = "X-Keyforge-Node"
NODE_TOKEN = "X-Keyforge-Node-Token"
HEARTBEAT_INTERVAL = "X-Keyforge-Heartbeat-Interval"
CONFIG_VERSION = "X-Keyforge-Config-Version"
UPDATED_BY = "X-Keyforge-Updated-By"


def raw(name: str) -> bytes:
    """The lower-case bytes an ASGI scope carries for ``name``."""
    return name.lower().encode("latin-1")
