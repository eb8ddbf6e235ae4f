"""``keyforge settings get|set``: the fleet's runtime settings through ``GET/PUT /settings``.

``set`` reads the current object, changes the named fields and writes the
whole object back with ``If-Match``, so an edit made meanwhile by another
operator is refused (409) instead of silently undone.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from typing import Any

import httpx
from rich.console import Console
from rich.table import Table

from keyforge_cli.operator_target import (
    OperatorError,
    add_hive_arguments,
    admin_client,
    reply_as,
)
from keyforge_shared.protocol import headers as protocol_headers
from keyforge_shared.protocol.settings import RuntimeSettings


def _parse_assignment(text: str) -> tuple[str, Any]:
    name, sep, raw = text.partition("=")
    if not sep or not name:
        raise OperatorError(f"{text!r}: write NAME=VALUE, e.g. heartbeat_ttl_s=45")
    try:
        return name, json.loads(raw)
    except json.JSONDecodeError:
        return name, raw  # the hive validates; a bare word stays a string


def _print(settings: dict[str, Any], headers: httpx.Headers, changed: set[str]) -> None:
    table = Table(title="runtime settings", title_justify="left")
    table.add_column("SETTING")
    table.add_column("VALUE", justify="right")
    for name, value in settings.items():
        style = "bold green" if name in changed else None
        table.add_row(name, json.dumps(value), style=style)
    console = Console()
    console.print(table)
    console.print(
        f"version {headers.get('etag', '?').strip(chr(34))}, "
        f"last changed by {headers.get(protocol_headers.UPDATED_BY, '?')} "
        f"at {headers.get('last-modified', '?')}",
        highlight=False,
    )


async def _get(args: argparse.Namespace) -> int:
    async with admin_client(args) as client:
        response = await client.get("/settings")
    settings = reply_as(response, RuntimeSettings).model_dump()
    if args.json:
        print(json.dumps(settings, indent=2))
    else:
        _print(settings, response.headers, set())
    return 0


async def _set(args: argparse.Namespace) -> int:
    changes = dict(_parse_assignment(a) for a in args.assignments)
    async with admin_client(args) as client:
        current = await client.get("/settings")
        settings = reply_as(current, RuntimeSettings).model_dump()
        unknown = sorted(set(changes) - set(settings))
        if unknown:
            raise OperatorError(f"unknown setting(s): {', '.join(unknown)}")
        response = await client.put(
            "/settings",
            json={**settings, **changes},
            headers={"If-Match": current.headers.get("etag", "*")},
        )
    _print(reply_as(response, RuntimeSettings).model_dump(), response.headers, set(changes))
    return 0


def add_commands(sub: Any) -> None:
    settings = sub.add_parser("settings", help="show or change the fleet's runtime settings")
    verbs = settings.add_subparsers(dest="verb", required=True)
    get = verbs.add_parser("get", help="show the runtime settings")
    add_hive_arguments(get)
    get.add_argument("--json", action="store_true", help="print the JSON object")
    get.set_defaults(run=lambda args: asyncio.run(_get(args)))
    put = verbs.add_parser("set", help="change settings: NAME=VALUE ...")
    add_hive_arguments(put)
    put.add_argument("assignments", nargs="+", metavar="NAME=VALUE")
    put.set_defaults(run=lambda args: asyncio.run(_set(args)))
