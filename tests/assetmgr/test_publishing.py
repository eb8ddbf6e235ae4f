"""assetmgr against a real Valkey and a real directory, read back through a real gateway."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from redis.asyncio import Redis

from keyforge_shared.events import events_after
from keyforge_shared.keys import Keys
from tests.assetmgr.harness import (
    manager_settings,
    running_gateway,
    running_manager,
    sha256_hex,
    wait_for_sha,
    write_file,
)
from tests.conftest import ValkeyFixture

keys = Keys()
WEIGHTS = json.dumps({"penalty_sfb_base": 400.0, "finger_penalty_scale": "0,1,1.1"}).encode()


async def asset_events(valkey_admin: Redis) -> list[dict[str, object]]:
    events = await events_after(valkey_admin, keys, "0-0", 1000, stream=keys.asset_events())
    return [e.data for e in events if e.type == "asset_update"]


async def test_boot_publishes_edits_deletes_and_keeps_last_valid(
    valkey: ValkeyFixture, valkey_admin: Redis, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    write_file(tmp_path / "weights" / "w.json", WEIGHTS)
    write_file(tmp_path / "notes.txt", b"hello")
    settings = manager_settings(valkey_url=valkey.url("assetmgr"), assets_dir=tmp_path)
    async with running_manager(settings), running_gateway(valkey.url("assets")) as gateway:
        await wait_for_sha(gateway, "weights/w.json", sha256_hex(WEIGHTS))
        await wait_for_sha(gateway, "notes.txt", sha256_hex(b"hello"))
        response = await gateway.get("/data/weights/w.json")
        assert response.content == WEIGHTS
        assert response.headers["etag"] == f'"{sha256_hex(WEIGHTS)}"'
        assert response.headers["content-type"] == "application/json"

        edited = json.dumps({"penalty_sfb_base": 300.0}).encode()
        write_file(tmp_path / "weights" / "w.json", edited)
        await wait_for_sha(gateway, "weights/w.json", sha256_hex(edited))
        assert (await gateway.get("/weights/w.json")).content == edited

        write_file(tmp_path / "weights" / "w.json", b'{"penalty_sfb_base": ')
        (tmp_path / "notes.txt").unlink()
        await wait_for_sha(gateway, "notes.txt", None)
        assert (await gateway.get("/weights/w.json")).content == edited
        assert (await gateway.get("/notes.txt")).status_code == 404

    events = await asset_events(valkey_admin)
    actions = [(e["path"], e["action"]) for e in events]
    assert ("weights/w.json", "put") in actions
    assert ("notes.txt", "delete") in actions
    # The refused edit is reported, not announced: every announcement is content.
    assert {action for _, action in actions} == {"put", "delete"}
    assert [e["sha256"] for e in events if e["path"] == "weights/w.json"] == [
        sha256_hex(WEIGHTS),
        sha256_hex(edited),
    ]
    refusals = [r for r in caplog.records if "weights/w.json refused" in r.getMessage()]
    assert len(refusals) == 1
    assert refusals[0].levelname == "WARNING"
    assert "invalid JSON" in refusals[0].getMessage()
    assert sha256_hex(edited)[:12] in refusals[0].getMessage()
