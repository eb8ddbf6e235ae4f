"""The node keeps its token beside its id and sends it; a node that lost it takes a new id.

Against a real hive (Postgres, Valkey), through the node's own session and client.
"""

from __future__ import annotations

import asyncio
import stat
from pathlib import Path

from redis.asyncio import Redis

from keyforge_node.hive_client import HiveClient
from keyforge_node.identity import ID_FILE, TOKEN_FILE, NodeIdentity
from keyforge_node.session import NodeSession
from keyforge_shared.client.endpoints import Endpoint, async_client
from keyforge_shared.client.secret_source import SecretSource
from keyforge_shared.protocol.nodes import HeartbeatIn, NodeRegistration
from tests.conftest import ValkeyFixture
from tests.hive.conftest import running_hives
from tests.support import NODE_SECRET


async def start_session(url: str, state_dir: Path, secret: Path) -> NodeSession:
    identity = NodeIdentity.load(state_dir)
    http = async_client(Endpoint.parse(url))
    session = NodeSession(
        HiveClient(http, SecretSource(path=secret), identity.token),
        identity.node_id,
        NodeRegistration(
            node_id=identity.node_id, cpu_model="test", cores=2, l2_cache_kb=None, ops_per_sec=1
        ),
        asyncio.Event(),
        identity=identity,
    )
    await session.register()
    return session


async def test_the_token_is_kept_0600_reused_and_a_lost_one_means_a_new_id(
    database_url: str, valkey: ValkeyFixture, valkey_admin: Redis, tmp_path: Path
) -> None:
    secret = tmp_path / "hive-secret"
    secret.write_text(NODE_SECRET + "\n")
    state = tmp_path / "node"
    async with running_hives(database_url, valkey) as (a, b):
        first = await start_session(str(a.base_url), state, secret)
        token_file = state / TOKEN_FILE
        assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
        token = token_file.read_text().strip()
        assert token == first.hive.token
        await first.hive.heartbeat(first.node_id, HeartbeatIn(ips=1))
        await first.hive.client.aclose()
        # Restarted (on the other hive): the same id, the same token, accepted.
        again = await start_session(str(b.base_url), state, secret)
        assert (again.node_id, again.hive.token) == (first.node_id, token)
        await again.hive.heartbeat(again.node_id, HeartbeatIn(ips=1))
        await again.hive.client.aclose()
        # The token is lost: the old id stays its owner's; the node registers as a new one.
        token_file.unlink()
        renewed = await start_session(str(a.base_url), state, secret)
        assert renewed.node_id != first.node_id
        assert (state / ID_FILE).read_text().strip() == renewed.node_id
        assert renewed.hive.token not in (None, token)
        await renewed.hive.heartbeat(renewed.node_id, HeartbeatIn(ips=1))
        await renewed.hive.client.aclose()
