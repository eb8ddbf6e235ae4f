"""Node tokens: who a node-scoped request comes from.

The node secret proves fleet membership; a node's token proves which node.
The hive keeps only ``token_hash(token)`` (Postgres ``nodes.token_hash``, and
the node registry hash in Valkey for the heartbeat's Lua). Tokens are never
revoked or reissued for an id, so a hash -> node id mapping, once read from
Postgres, stays true: each hive caches it in memory and verifies a known
token without a round trip.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, field

import asyncpg

TOKEN_BYTES = 32  # 256 bits of entropy, url-safe base64 on the wire
# Bounded: dropped wholesale when full (a re-read costs one indexed query per node).
CACHE_LIMIT = 100_000

_NODE_OF = "SELECT node_id FROM nodes WHERE token_hash = $1"


def new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def token_hash(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


@dataclass
class TokenDirectory:
    pool: asyncpg.Pool
    _known: dict[bytes, str] = field(default_factory=dict)

    def remember(self, digest: bytes, node_id: str) -> None:
        if len(self._known) >= CACHE_LIMIT:
            self._known.clear()
        self._known[digest] = node_id

    async def node_of(self, token: str) -> str | None:
        """The node id the token belongs to, or None for a token nobody holds."""
        digest = token_hash(token)
        node_id = self._known.get(digest)
        if node_id is None:
            node_id = await self.pool.fetchval(_NODE_OF, digest)
            if node_id is not None:
                self.remember(digest, node_id)
        return node_id
