"""The node's asset cache against a gateway that can lie: bad bytes are refused, never used."""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI, Response

from keyforge_node.asset_cache import AssetCache, AssetRefused
from keyforge_node.job_model import ModelRecipe, build_job_model
from keyforge_shared.client.endpoints import Endpoint, async_client
from keyforge_shared.job_scorer import spec_asset_paths
from tests.support import serve_app

SYSTEM = Path(__file__).resolve().parents[2] / "data" / "system"
GOOD = b"the real bytes"
GOOD_SHA = hashlib.sha256(GOOD).hexdigest()


@dataclass
class FakeGateway:
    """Serves ``files`` by path and by hash; ``tampered`` replaces what a hash serves."""

    files: dict[str, bytes] = field(default_factory=dict)
    tampered: dict[str, bytes] = field(default_factory=dict)
    hits: list[str] = field(default_factory=list)

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.get("/manifest")
        async def manifest() -> dict[str, object]:
            files = {p: hashlib.sha256(b).hexdigest() for p, b in self.files.items()}
            return {"epoch": "test", "files": files, "entries": {}}

        @app.get("/by-hash/{sha}")
        async def by_hash(sha: str) -> Response:
            self.hits.append(f"/by-hash/{sha}")
            for data in self.files.values():
                if hashlib.sha256(data).hexdigest() == sha:
                    return Response(self.tampered.get(sha, data))
            return Response(status_code=404)

        @app.get("/data/{path:path}")
        async def by_path(path: str) -> Response:
            self.hits.append(f"/data/{path}")
            data = self.files.get(path)
            return Response(data) if data is not None else Response(status_code=404)

        return app


@pytest.fixture
async def gateway() -> AsyncIterator[tuple[FakeGateway, httpx.AsyncClient]]:
    fake = FakeGateway({"weights/w.json": GOOD})
    async with serve_app(fake.app()) as url, async_client(Endpoint.parse(url)) as client:
        yield fake, client


async def test_verified_bytes_are_cached_by_hash_and_served_from_the_cache(
    gateway: tuple[FakeGateway, httpx.AsyncClient], tmp_path: Path
) -> None:
    fake, client = gateway
    cache = AssetCache(tmp_path / "assets", client)
    file = await cache.fetch("weights/w.json", GOOD_SHA)
    assert file == tmp_path / "assets" / GOOD_SHA
    assert file.read_bytes() == GOOD
    await cache.fetch("weights/w.json", GOOD_SHA)
    assert fake.hits == [f"/by-hash/{GOOD_SHA}"]  # the second time from disk
    assert sorted(p.name for p in (tmp_path / "assets").iterdir()) == [GOOD_SHA]


async def test_tampered_bytes_from_the_gateway_are_refused_reported_and_never_stored(
    gateway: tuple[FakeGateway, httpx.AsyncClient],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    fake, client = gateway
    fake.tampered[GOOD_SHA] = b"the real bytes, with a little extra"
    cache = AssetCache(tmp_path / "assets", client)
    with caplog.at_level(logging.WARNING), pytest.raises(AssetRefused) as refused:
        await cache.fetch("weights/w.json", GOOD_SHA)
    assert refused.value.expected == GOOD_SHA
    assert cache.refused == 1
    assert "asset refused: weights/w.json" in caplog.text
    assert list((tmp_path / "assets").iterdir()) == []


async def test_a_tampered_cache_file_is_removed_and_fetched_again(
    gateway: tuple[FakeGateway, httpx.AsyncClient],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    fake, client = gateway
    cache = AssetCache(tmp_path / "assets", client)
    file = await cache.fetch("weights/w.json", GOOD_SHA)
    file.write_bytes(b"edited on disk")
    with caplog.at_level(logging.WARNING):
        again = await cache.fetch("weights/w.json", GOOD_SHA)
    assert again.read_bytes() == GOOD
    assert "asset refused" in caplog.text
    assert cache.refused == 1
    assert len(fake.hits) == 2


async def test_only_hash_names_reach_the_disk(
    gateway: tuple[FakeGateway, httpx.AsyncClient], tmp_path: Path
) -> None:
    _, client = gateway
    cache = AssetCache(tmp_path / "assets", client)
    for bad in ("../../etc/passwd", GOOD_SHA.upper(), GOOD_SHA + "/x", ""):
        with pytest.raises(ValueError, match="SHA-256"):
            await cache.fetch("weights/w.json", bad)
    assert sorted(os.listdir(tmp_path)) == ["assets"]


def _job_files(root: Path) -> tuple[dict[str, object], list[tuple[str, Path, str]]]:
    config: dict[str, object] = {
        "definition": json.loads((root / "keyboards" / "ortho_30.json").read_text()),
        "weights": {},
        "corpus_name": "default",
    }
    files = []
    for path in spec_asset_paths(config):
        data = (root / path).read_bytes()
        files.append((path, root / path, hashlib.sha256(data).hexdigest()))
    return config, files


def test_a_model_is_never_built_from_bytes_that_changed_after_verification(
    tmp_path: Path,
) -> None:
    """Workers re-check every file's hash as they read it."""
    config, files = _job_files(SYSTEM)
    copies = []
    for path, file, sha in files:
        copy = tmp_path / sha
        copy.write_bytes(file.read_bytes())
        copies.append((path, copy, sha))
    assert build_job_model(ModelRecipe.of(config, copies)).model.key_count == 30
    copies[2][1].write_bytes(copies[2][1].read_bytes().replace(b"t,h,e,7", b"t,h,e,9"))
    with pytest.raises(AssetRefused):
        build_job_model(ModelRecipe.of(config, copies))
