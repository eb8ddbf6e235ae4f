"""``keyforge settings``, ``keyforge kv`` and ``keyforge gc`` against real hives."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from typing import Any

from redis.asyncio import Redis

from tests.conftest import ValkeyFixture
from tests.hive.conftest import ADMIN_HEADERS, running_hives
from tests.hive.kv_support import admin_put, job_id, sql
from tests.support import ADMIN_SECRET

J = job_id("operator job")
PASSWORD = "pa55word-for-the-cli"


async def keyforge(*args: str, **env: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "keyforge_cli",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "COLUMNS": "250", "HIVE_ADMIN_SECRET": ADMIN_SECRET, **env},
    )
    out, err = await process.communicate()
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_settings_get_and_set(
    database_url: str, valkey: ValkeyFixture, valkey_admin: Redis
) -> None:
    async with running_hives(database_url, valkey, count=1) as (hive,):
        url = str(hive.base_url).rstrip("/")
        code, out, err = await keyforge("settings", "get", "--hive", url, "--json")
        assert code == 0, err
        assert json.loads(out)["lease_s"] == 300
        code, out, err = await keyforge(
            "settings", "set", "lease_s=600", "heartbeat_ttl_s=45", "--hive", url
        )
        assert code == 0, err
        assert "lease_s" in out
        assert "by admin" in out
        got = (await hive.get("/settings", headers=ADMIN_HEADERS)).json()
        assert (got["lease_s"], got["heartbeat_ttl_s"]) == (600, 45)
        code, _, err = await keyforge("settings", "set", "lease_s=1", "--hive", url)
        assert code == 1
        assert "lease_s" in err
        code, _, err = await keyforge("settings", "set", "nonsense=1", "--hive", url)
        assert code == 1
        assert "unknown setting" in err


async def test_kv_cat_get_and_gc(
    database_url: str, valkey: ValkeyFixture, valkey_admin: Redis
) -> None:
    async with running_hives(database_url, valkey, count=1) as (hive,):
        url = str(hive.base_url).rstrip("/")
        await admin_put(hive, f"vars/job/{J}/threads", "4")
        await admin_put(hive, f"vars/job/{J}/threads", "8")
        await admin_put(hive, f"secrets/job/{J}/db_password", PASSWORD)
        await admin_put(hive, "vars/fleet/motd", "hello")
        await admin_put(hive, f"vars/job/{job_id('other')}/x", "elsewhere")

        code, out, err = await keyforge("kv", "cat", "--hive", url, "--jobs", J[:10])
        assert code == 0, err
        assert "superseded" in out
        assert "(secret)" in out
        assert PASSWORD not in out
        assert "elsewhere" not in out
        code, out, _ = await keyforge("kv", "cat", "--hive", url, "--active")
        assert "superseded" not in out
        assert "elsewhere" in out

        args = ["kv", "get", f"secrets/job/{J}", "db_password", "--hive", url]
        code, out, _ = await keyforge(*args)
        assert code == 0
        assert PASSWORD not in out
        code, out, _ = await keyforge(*args, "--reveal", "--raw")
        assert (code, out.strip()) == (0, PASSWORD)
        code, _, err = await keyforge("kv", "get", "vars/fleet", "missing", "--hive", url)
        assert code == 1
        assert "unknown_key" in err

        code, out, err = await keyforge("gc", "--retain-days", "0", "--hive", url)
        assert code == 0, err
        assert "superseded" in out
    rows: list[Any] = await sql(database_url, "SELECT key, version FROM kv WHERE key = 'threads'")
    assert [(r["key"], r["version"]) for r in rows] == [("threads", 2)]
