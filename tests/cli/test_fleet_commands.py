"""``keyforge freeze|unfreeze|config`` and the freeze line of ``keyforge status``."""

from __future__ import annotations

import json

from redis.asyncio import Redis

from tests.cli.test_operator_commands import keyforge
from tests.conftest import ValkeyFixture
from tests.hive.conftest import ADMIN_HEADERS, register, running_hives


async def test_freeze_unfreeze_and_status(
    database_url: str, valkey: ValkeyFixture, valkey_admin: Redis
) -> None:
    async with running_hives(database_url, valkey, count=1) as (hive,):
        url = str(hive.base_url).rstrip("/")
        code, out, err = await keyforge(
            "freeze", "--until", "2h", "--reason", "db upgrade", "--hive", url
        )
        assert code == 0, err
        assert "FROZEN" in out
        state = (await hive.get("/fleet/freeze")).json()
        assert (state["active"], state["reason"]) == (True, "db upgrade")
        code, out, err = await keyforge("status", "--hive", url, "--json")
        assert code == 0, err
        assert json.loads(out)["freeze"]["reason"] == "db upgrade"
        code, out, err = await keyforge("status", "--hive", url)
        assert code == 0, err
        assert "dispatch: FROZEN" in out
        assert "db upgrade" in out
        code, out, err = await keyforge("unfreeze", "--hive", url)
        assert code == 0, err
        assert "dispatch: open" in out
        assert (await hive.get("/fleet/freeze")).json()["active"] is False
        code, _, err = await keyforge("freeze", "--until", "someday", "--hive", url)
        assert code == 1
        assert "--until" in err


async def test_config_set_and_get_per_layer(
    database_url: str, valkey: ValkeyFixture, valkey_admin: Redis
) -> None:
    async with running_hives(database_url, valkey, count=1) as (hive,):
        url = str(hive.base_url).rstrip("/")
        await register(hive, "n1", labels={"group": "lab"})
        for args in (
            ["thread_count=4", "background=true"],
            ["--group", "lab", "thread_count=2", "paused=false"],
            ["--node", "n1", "max_leases=3"],
            ["--group", "lab", "paused=null"],
        ):
            code, out, err = await keyforge("config", "set", *args, "--hive", url)
            assert code == 0, err
        group = (await hive.get("/fleet/config/groups/lab", headers=ADMIN_HEADERS)).json()
        assert group["layer"] == {"thread_count": 2}
        code, out, err = await keyforge("config", "get", "--node", "n1", "--hive", url, "--json")
        assert code == 0, err
        effective = json.loads(out)["effective"]
        assert effective["config"] == {
            "thread_count": 2,
            "background": True,
            "max_leases": 3,
            "paused": False,
        }
        assert effective["sources"] == {
            "thread_count": "group",
            "background": "fleet",
            "max_leases": "node",
        }
        code, _, err = await keyforge("config", "set", "thread_count=0", "--hive", url)
        assert code == 1
        assert "thread_count" in err
