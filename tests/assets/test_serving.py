"""The gateway's HTTP contract, on files published by a real assetmgr."""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from tests.assetmgr.harness import (
    manager_settings,
    running_gateway,
    running_manager,
    sha256_hex,
    wait_for_sha,
    write_file,
)
from tests.assets.rawhttp import raw_status
from tests.conftest import ValkeyFixture

WEIGHTS = json.dumps({"penalty_sfb_base": 400.0}).encode()
BIG = os.urandom(700_000)  # three chunks, served by streaming when over the cache item size
SECRET = b"outside the assets dir"


@pytest.fixture
async def gateway(
    valkey: ValkeyFixture, valkey_admin: object, tmp_path: Path
) -> AsyncIterator[httpx.AsyncClient]:
    assets = tmp_path / "assets"
    write_file(assets / "weights" / "w.json", WEIGHTS)
    write_file(assets / "blobs" / "big.bin", BIG)
    write_file(tmp_path / "secret.txt", SECRET)
    (assets / "leak.txt").symlink_to(tmp_path / "secret.txt")
    settings = manager_settings(valkey_url=valkey.url("assetmgr"), assets_dir=assets)
    async with (
        running_manager(settings),
        running_gateway(valkey.url("assets"), KEYFORGE_ASSETS_CACHE_ITEM_BYTES=100_000) as client,
    ):
        await wait_for_sha(client, "blobs/big.bin", sha256_hex(BIG))
        await wait_for_sha(client, "weights/w.json", sha256_hex(WEIGHTS))
        yield client


async def test_serves_bytes_with_the_contract_headers(gateway: httpx.AsyncClient) -> None:
    etag = f'"{sha256_hex(WEIGHTS)}"'
    for path in ("/data/weights/w.json", "/weights/w.json"):
        response = await gateway.get(path)
        assert response.status_code == 200
        assert response.content == WEIGHTS
        assert response.headers["etag"] == etag
        assert response.headers["content-type"] == "application/json"
        assert response.headers["content-length"] == str(len(WEIGHTS))
        assert response.headers["cache-control"] == "public, max-age=60"
    head = await gateway.head("/data/weights/w.json")
    assert head.status_code == 200
    assert head.content == b""
    assert head.headers["content-length"] == str(len(WEIGHTS))
    assert head.headers["etag"] == etag
    by_hash = await gateway.get(f"/by-hash/{sha256_hex(WEIGHTS)}")
    assert by_hash.content == WEIGHTS
    assert by_hash.headers["cache-control"] == "public, max-age=31536000, immutable"


async def test_manifest_lists_every_asset(gateway: httpx.AsyncClient) -> None:
    document = (await gateway.get("/manifest")).json()
    assert isinstance(document["epoch"], str)
    assert document["files"] == {
        "weights/w.json": sha256_hex(WEIGHTS),
        "blobs/big.bin": sha256_hex(BIG),
    }
    entry = document["entries"]["blobs/big.bin"]
    assert entry["sha256"] == sha256_hex(BIG)
    assert entry["size"] == len(BIG)
    assert entry["content_type"] == "application/octet-stream"
    assert entry["updated_at"].endswith("+00:00")


async def test_conditional_and_range_requests(gateway: httpx.AsyncClient) -> None:
    etag = f'"{sha256_hex(BIG)}"'
    for header in (etag, f"W/{etag}", f'"other", {etag}', "*"):
        response = await gateway.get("/blobs/big.bin", headers={"If-None-Match": header})
        assert response.status_code == 304
        assert response.headers["etag"] == etag
        assert response.content == b""
    assert (
        await gateway.get("/blobs/big.bin", headers={"If-None-Match": '"x"'})
    ).status_code == 200

    # Ranges across the 256 KiB chunk boundary, from the streaming path.
    cases = {"bytes=262000-262300": BIG[262000:262301], "bytes=-100": BIG[-100:],
             "bytes=699990-": BIG[699990:], "bytes=0-0": BIG[:1]}  # fmt: skip
    for header, expected in cases.items():
        response = await gateway.get("/blobs/big.bin", headers={"Range": header})
        assert response.status_code == 206, header
        assert response.content == expected, header
        assert response.headers["content-range"].endswith(f"/{len(BIG)}")
    small = await gateway.get("/weights/w.json", headers={"Range": "bytes=2-5"})
    assert small.status_code == 206
    assert small.content == WEIGHTS[2:6]

    unsatisfiable = await gateway.get("/blobs/big.bin", headers={"Range": "bytes=700000-"})
    assert unsatisfiable.status_code == 416
    assert unsatisfiable.headers["content-range"] == f"bytes */{len(BIG)}"
    several = await gateway.get("/blobs/big.bin", headers={"Range": "bytes=0-1,5-6"})
    assert several.status_code == 200
    stale = await gateway.get("/blobs/big.bin", headers={"Range": "bytes=0-1", "If-Range": '"x"'})
    assert stale.status_code == 200
    assert stale.content == BIG
    # Unicode digits ("²".isdigit() is true, int("²") fails) and numbers past 64 bits
    # are not a byte range: ignored, the whole file is served.
    for header in ("bytes=²-", "bytes=-²", "bytes=0-¹", "bytes=" + "9" * 20 + "-"):
        odd = await gateway.get("/weights/w.json", headers={b"Range": header.encode("latin-1")})
        assert odd.status_code == 200, header
        assert odd.content == WEIGHTS


async def test_unknown_and_refused_answers_are_envelopes(gateway: httpx.AsyncClient) -> None:
    missing = await gateway.get("/data/weights/nope.json")
    assert missing.status_code == 404
    assert missing.json()["error"] == "not_found"
    assert (await gateway.get("/by-hash/" + "0" * 64)).status_code == 404
    assert (await gateway.post("/data/weights/w.json")).status_code == 405
    # The symlink to a file outside the assets dir was refused by the manager.
    assert (await gateway.get("/leak.txt")).status_code == 404


HOSTILE_TARGETS = [
    b"/../etc/passwd",
    b"/data/../../etc/passwd",
    b"/data/weights/../../secret.txt",
    b"/data/./weights/w.json",
    b"/%2e%2e/etc/passwd",
    b"/data/%2e%2e/%2e%2e/etc/passwd",
    b"/data/%2E%2E%2Fsecret.txt",
    b"/data/..%2fsecret.txt",
    b"/data/..%5csecret.txt",
    b"/data/%252e%252e/secret.txt",
    b"/data/%25252e%25252e%25252fsecret.txt",
    b"/data/weights%2fw.json",
    b"/data/weights%2Fw.json",
    b"/..%c0%afsecret.txt",
    b"/data/%c0%ae%c0%ae/secret.txt",
    b"/data/..\\secret.txt",
    b"/data\\..\\secret.txt",
    b"/data/weights\\w.json",
    b"/data/%00",
    b"/data/weights/w.json%00",
    b"/data/weights/w.json%00.png",
    b"//etc/passwd",
    b"/data//etc/passwd",
    b"/data///weights/w.json",
    b"/%2fetc%2fpasswd",
    b"/data/%2fetc/passwd",
    b"/by-hash/../manifest",
    b"/by-hash/%2e%2e%2fmanifest",
    b"/data/.hidden",
    b"/data/weights/.",
    b"/data/" + b"a" * 5000,
    b"/data/" + b"a/" * 600 + b"w.json",
    b"/" + b"%2e%2e%2f" * 200 + b"etc/passwd",
    b"/data/weights/w.json/..",
    b"/data/~/secret.txt",
    b"/data/weights/w.json%20",
    b"/data/\xc3\xa9t\xc3\xa9",
    b"/leak.txt",
    b"/data/leak.txt",
    b"/data/..;/secret.txt",
]


async def test_hostile_paths_never_succeed_nor_crash(gateway: httpx.AsyncClient) -> None:
    port = gateway.base_url.port
    assert port is not None
    assert len(HOSTILE_TARGETS) >= 30
    for method in (b"GET", b"HEAD"):
        for target in HOSTILE_TARGETS:
            status = await raw_status(port, target, method)
            assert not 200 <= status < 300, (target, status)
            assert status < 500, (target, status)
