from __future__ import annotations

import asyncio
import os
import subprocess
import sys

from keyforge_assetmgr.app import create_app
from keyforge_assetmgr.config import AssetMgrSettings
from keyforge_shared.processes import free_port
from tests.conftest import ValkeyFixture
from tests.support import serve_app


def run_check(port: int) -> int:
    env = {**os.environ, "KEYFORGE_LISTEN_PORT": str(port)}
    return subprocess.run(
        [sys.executable, "-m", "keyforge_assetmgr", "--check"], env=env, check=False, timeout=30
    ).returncode


async def test_check_tells_a_live_manager_from_a_missing_one(valkey: ValkeyFixture) -> None:
    assert await asyncio.to_thread(run_check, free_port()) == 1

    settings = AssetMgrSettings.model_validate(
        {"KEYFORGE_VALKEY_URL": valkey.url("assetmgr"), "KEYFORGE_CONNECT_ATTEMPTS": 3}
    )
    async with serve_app(create_app(settings)) as url:
        port = int(url.rsplit(":", 1)[1])
        assert await asyncio.to_thread(run_check, port) == 0
