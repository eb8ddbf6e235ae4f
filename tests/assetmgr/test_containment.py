"""One poisoned file stays that file's problem; a writer that stops progressing fails --check."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest
from redis.asyncio import Redis

from keyforge_assetmgr import kinds, publisher
from keyforge_assetmgr.app import create_app as create_manager_app
from keyforge_assetmgr.kinds import Kind
from keyforge_assetmgr.store import AssetStore
from tests.assetmgr.harness import (
    manager_settings,
    running_gateway,
    sha256_hex,
    wait_for_sha,
    write_file,
)
from tests.assetmgr.test_check import run_check
from tests.conftest import ValkeyFixture
from tests.support import serve_app, wait_until

GOOD = b'{"penalty_sfb_base": 400.0}'
NESTED = b"[" * 100_000 + b"]" * 100_000  # json.loads raises RecursionError, not a format error
# Sorted between the others, so a pass that stopped at it would miss the files after it.
POISON = "weights/c.json"


def _validator_that_breaks_on_poison(real: object) -> object:
    def validate(kind: Kind, path: str, data: bytes) -> None:
        if path == POISON and data != GOOD:
            raise ZeroDivisionError("a validator bug")  # fault injected: any unexpected error
        real(kind, path, data)  # type: ignore[operator]

    return validate


async def test_a_poisoned_file_does_not_stop_the_others(
    valkey: ValkeyFixture, valkey_admin: Redis, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(publisher, "validate", _validator_that_breaks_on_poison(kinds.validate))
    root = tmp_path / "assets"
    write_file(root / "weights" / "a.json", GOOD)
    write_file(root / "weights" / "b.json", NESTED)
    write_file(root / POISON, GOOD)
    write_file(root / "weights" / "d.json", GOOD)
    app = create_manager_app(manager_settings(valkey_url=valkey.url("assetmgr"), assets_dir=root))
    async with serve_app(app), running_gateway(valkey.url("assets")) as gateway:
        for path in ("weights/a.json", POISON, "weights/d.json"):
            await wait_for_sha(gateway, path, sha256_hex(GOOD))
        # Poison c: the last valid version stays served, the failure is counted.
        write_file(root / POISON, b'{"penalty_sfb_base": 1.0}')
        write_file(root / "weights" / "e.json", GOOD)
        await wait_for_sha(gateway, "weights/e.json", sha256_hex(GOOD))
        assert await _served(gateway, POISON) == GOOD
        await wait_until(lambda: _has_failures(app), timeout_s=5)
        assert "weights/b.json" not in (await gateway.get("/manifest")).json()["files"]

        # After a wipe every good file comes back, whatever sorts before or after the poison.
        await valkey_admin.flushall()
        good = {p: sha256_hex(GOOD) for p in ("weights/a.json", "weights/d.json", "weights/e.json")}
        await wait_until(lambda: _manifest_is(gateway, good), timeout_s=15, interval_s=0.1)
        assert app.state.manager.state.role == "active"


async def test_check_fails_when_the_writer_stops_progressing(
    valkey: ValkeyFixture, valkey_admin: Redis, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "assets"
    write_file(root / "weights" / "a.json", GOOD)
    settings = manager_settings(
        valkey_url=valkey.url("assetmgr"), assets_dir=root, KEYFORGE_ASSET_WRITER_STALL_S=1.0
    )
    app = create_manager_app(settings)
    async with serve_app(app) as url:
        port = int(url.rsplit(":", 1)[1])
        await wait_until(lambda: _active(app), timeout_s=10)
        assert await asyncio.to_thread(run_check, port) == 0

        async def hang(self: AssetStore) -> bool:
            await asyncio.Event().wait()  # fault injected: a store call that never returns
            return True

        monkeypatch.setattr(AssetStore, "has_epoch", hang)
        await wait_until(lambda: _check_fails(port), timeout_s=15, interval_s=0.5)
        async with httpx.AsyncClient(base_url=url, timeout=5) as client:
            health = await client.get("/health")
        assert health.status_code == 503
        assert health.json()["failing"] == ["manager"]


async def _manifest_is(gateway: httpx.AsyncClient, files: dict[str, str]) -> bool:
    response = await gateway.get("/manifest")
    return response.status_code == 200 and response.json()["files"] == files


async def _served(gateway: httpx.AsyncClient, path: str) -> bytes:
    return (await gateway.get(f"/data/{path}")).content


async def _has_failures(app: object) -> bool:
    return bool(app.state.manager.state.file_failures)  # type: ignore[attr-defined]


async def _active(app: object) -> bool:
    state = app.state.manager.state  # type: ignore[attr-defined]
    return state.role == "active" and state.writer_progress_at is not None


async def _check_fails(port: int) -> bool:
    return await asyncio.to_thread(run_check, port) == 1
