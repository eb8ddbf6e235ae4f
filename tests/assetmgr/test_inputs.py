"""The hive's read helpers load a default job's inputs from the store, with the hive's user."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from redis.asyncio import Redis

from keyforge_shared.asset_inputs import (
    AssetMissing,
    job_asset_paths,
    load_corpus,
    load_cost_matrix,
    load_keycodes,
)
from keyforge_shared.asset_store import read_asset, read_manifest
from keyforge_shared.connect import connect_valkey
from keyforge_shared.formats import FormatError
from keyforge_shared.keys import Keys
from tests.assetmgr.harness import manager_settings, running_manager
from tests.conftest import ValkeyFixture
from tests.support import wait_until

keys = Keys()
SYSTEM = Path(__file__).resolve().parents[2] / "data" / "system"


async def test_a_default_job_loads_from_the_store(
    valkey: ValkeyFixture, valkey_admin: Redis, tmp_path: Path
) -> None:
    root = tmp_path / "system"
    shutil.copytree(SYSTEM, root)
    settings = manager_settings(valkey_url=valkey.url("assetmgr"), assets_dir=root)
    hive = await connect_valkey(valkey.url("hive"), client_name="test-hive", attempts=1)
    try:
        async with running_manager(settings):

            async def resolved() -> bool:
                files = (await read_manifest(hive, keys))["files"]
                return set(job_asset_paths("default", "cost_matrix.csv")) <= set(files)

            await wait_until(resolved, timeout_s=15)
            corpus = await load_corpus(hive, keys, "default")
            assert corpus.unigrams["e"] > corpus.unigrams["z"] > 0
            assert corpus.trigrams["the"] > 0
            costs = await load_cost_matrix(hive, keys, "cost_matrix.csv")
            assert len(costs) == 900
            assert (await load_keycodes(hive, keys)).canonical("KC_ENTER") == "KC_ENT"
            on_disk = (root / "weights" / "default.json").read_bytes()
            assert await read_asset(hive, keys, "weights/default.json") == on_disk
            with pytest.raises(AssetMissing):
                await load_corpus(hive, keys, "klingon")
            with pytest.raises(FormatError):
                await load_corpus(hive, keys, "../default")
    finally:
        await hive.aclose()
