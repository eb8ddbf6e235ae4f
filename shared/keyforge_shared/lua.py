"""What the fleet's Lua scripts begin with, written once.

Scripts that compare with a time read the server's clock (``TIME``) rather
than take one from the caller: every hive then judges leases, heartbeats and
liveness by one clock, whatever its own says.
"""

from __future__ import annotations

# Defines ``now``: the Valkey server's clock in whole milliseconds.
SERVER_NOW_MS = """\
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
"""


def with_server_now(body: str) -> str:
    """``body`` as a script in which ``now`` is the server's clock in milliseconds."""
    return SERVER_NOW_MS + body.lstrip("\n")
