"""The hive and gateway clients of ``keyforge job``, and the job lookups its verbs share."""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx

from keyforge_cli.operator_target import (
    DEFAULT_DATA_DIR,
    OperatorError,
    fail_on_error,
)
from keyforge_shared.client.endpoints import async_client
from keyforge_shared.client.targets import resolve_targets
from keyforge_shared.formats import parse_keycodes
from keyforge_shared.protocol import headers


@dataclass
class JobClients:
    hive: httpx.AsyncClient  # with the admin secret when one is known
    gateway: httpx.AsyncClient | None
    admin: bool


@contextlib.asynccontextmanager
async def job_clients(args: argparse.Namespace) -> AsyncIterator[JobClients]:
    if args.hive is None and args.stack is None:
        args.stack = DEFAULT_DATA_DIR
    args.secret_file = None
    targets = resolve_targets(args)
    async with contextlib.AsyncExitStack() as stack:
        hive = await stack.enter_async_context(async_client(targets.hive, timeout_s=30.0))
        if targets.admin_secret is not None:
            hive.headers[headers.ADMIN_SECRET] = targets.admin_secret.current()
        gateway = None
        if targets.assets is not None:
            gateway = await stack.enter_async_context(async_client(targets.assets, timeout_s=30.0))
        yield JobClients(hive, gateway, targets.admin_secret is not None)


async def get_json(client: httpx.AsyncClient, path: str, **params: Any) -> Any:
    try:
        response = await client.get(path, params=params or None)
    except httpx.HTTPError as exc:
        raise OperatorError(f"the hive is unreachable: {type(exc).__name__}") from None
    return fail_on_error(response)


async def resolve_job_id(client: httpx.AsyncClient, given: str) -> str:
    """A full job id, or the one job whose id starts with ``given`` (as git takes hashes)."""
    if len(given) == 64:
        return given
    jobs = await get_json(client, "/jobs", limit=1000)
    matches = [j["job_id"] for j in jobs if j["job_id"].startswith(given.lower())]
    if len(matches) != 1:
        found = "no job" if not matches else f"{len(matches)} jobs"
        raise OperatorError(
            f"{found} with an id starting {given!r}; `keyforge job list` shows them"
        )
    job_id: str = matches[0]
    return job_id


async def keycode_labels(gateway: httpx.AsyncClient | None) -> dict[str, str]:
    """Keycode id (and alias) -> its short label, from the published ``keycodes.json``."""
    if gateway is None:
        return {}
    response = await gateway.get("/data/keycodes.json")
    if not response.is_success:
        return {}
    table = parse_keycodes(response.content)
    return {name: entry.label for name, entry in table.by_name.items() if entry.label}


def pinned_slots(pinned_keys: str) -> set[int]:
    slots = set()
    for pair in pinned_keys.split(","):
        slot, sep, _ = pair.strip().partition(":")
        if sep and slot.strip().isdigit():
            slots.add(int(slot))
    return slots
