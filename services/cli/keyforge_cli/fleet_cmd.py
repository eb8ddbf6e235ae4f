"""``keyforge freeze|unfreeze`` and ``keyforge config get|set``: fleet control (seed 003).

``config set`` reads the layer, changes the named fields and writes the
whole layer back (``k=null`` removes a field from the layer, so the layers
below decide it again). ``config get --node N`` shows the node's effective
config and which layer set each field.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

from rich.console import Console

from keyforge_cli.operator_target import (
    OperatorError,
    add_hive_arguments,
    admin_client,
    fail_on_error,
)
from keyforge_shared.protocol.fleet import FreezeState

DURATION = re.compile(r"(\d+)([smhd])\Z")
UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def parse_until(text: str) -> str:
    """RFC 3339, or a duration from now (``90s``, ``30m``, ``2h``, ``1d``)."""
    match = DURATION.match(text.strip())
    if match:
        delta = timedelta(**{UNITS[match.group(2)]: int(match.group(1))})
        return (datetime.now(UTC) + delta).isoformat()
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise OperatorError(f"--until {text!r}: give RFC 3339 or a duration like 30m") from None
    return (when if when.tzinfo else when.replace(tzinfo=UTC)).isoformat()


def describe_freeze(state: FreezeState) -> str:
    if not state.active:
        return "dispatch: open (no freeze)"
    until = state.until.isoformat() if state.until else "lifted by hand (keyforge unfreeze)"
    reason = state.reason or "no reason given"
    set_at = state.set_at.isoformat() if state.set_at else "?"
    return f"dispatch: FROZEN until {until}: {reason} (set by {state.set_by} at {set_at})"


async def _freeze(args: argparse.Namespace) -> int:
    body = {"until": parse_until(args.until) if args.until else None, "reason": args.reason}
    async with admin_client(args) as client:
        state = fail_on_error(await client.put("/fleet/freeze", json=body))
    Console().print(describe_freeze(FreezeState.model_validate(state)), highlight=False)
    return 0


async def _unfreeze(args: argparse.Namespace) -> int:
    async with admin_client(args) as client:
        state = fail_on_error(await client.delete("/fleet/freeze"))
    Console().print(describe_freeze(FreezeState.model_validate(state)), highlight=False)
    return 0


def layer_path(args: argparse.Namespace) -> str:
    if args.group:
        return f"/fleet/config/groups/{args.group}"
    if args.node:
        return f"/fleet/config/nodes/{args.node}"
    return "/fleet/config"


def _assignment(text: str) -> tuple[str, Any]:
    name, sep, raw = text.partition("=")
    if not sep or not name:
        raise OperatorError(f"{text!r}: write NAME=VALUE, e.g. thread_count=4")
    try:
        return name, json.loads(raw)
    except json.JSONDecodeError:
        return name, raw  # the hive validates and names the field


async def _config_get(args: argparse.Namespace) -> int:
    async with admin_client(args) as client:
        layer = fail_on_error(await client.get(layer_path(args)))
        effective = None
        if args.node:
            effective = fail_on_error(await client.get(f"/nodes/{args.node}/config"))
    if args.json:
        print(json.dumps({"layer": layer, "effective": effective}, indent=2))
        return 0
    console = Console()
    where = layer["scope"] + (f" {layer['name']}" if layer.get("name") else "")
    console.print(f"{where} layer (version {layer['version']}): {json.dumps(layer['layer'])}")
    if effective is not None:
        for name, value in effective["config"].items():
            source = effective["sources"].get(name, "default")
            console.print(f"  {name} = {json.dumps(value)}  ({source})", highlight=False)
    return 0


async def _config_set(args: argparse.Namespace) -> int:
    changes = dict(_assignment(a) for a in args.assignments)
    path = layer_path(args)
    async with admin_client(args) as client:
        layer = dict(fail_on_error(await client.get(path))["layer"])
        layer.update(changes)
        layer = {k: v for k, v in layer.items() if v is not None}
        written = fail_on_error(await client.put(path, json=layer))
    Console().print(
        f"{written['scope']} layer now {json.dumps(written['layer'])} "
        f"(config version {written['version']})",
        highlight=False,
    )
    return 0


def add_commands(sub: Any) -> None:
    freeze = sub.add_parser("freeze", help="stop every hive handing out new leases")
    add_hive_arguments(freeze)
    freeze.add_argument("--until", help="RFC 3339 or a duration (30m, 2h); default: until lifted")
    freeze.add_argument("--reason", default="", help="shown to operators and on the dashboard")
    freeze.set_defaults(run=lambda args: asyncio.run(_freeze(args)))
    unfreeze = sub.add_parser("unfreeze", help="lift the dispatch freeze")
    add_hive_arguments(unfreeze)
    unfreeze.set_defaults(run=lambda args: asyncio.run(_unfreeze(args)))

    config = sub.add_parser("config", help="show or change the layered node config")
    verbs = config.add_subparsers(dest="verb", required=True)
    for verb, helptext in (("get", "show a layer"), ("set", "change fields of a layer")):
        parser = verbs.add_parser(verb, help=f"{helptext} (the fleet's unless --group/--node)")
        add_hive_arguments(parser)
        scope = parser.add_mutually_exclusive_group()
        scope.add_argument("--group", help="the layer of nodes labelled group=G")
        scope.add_argument("--node", help="the layer of one node")
        if verb == "get":
            parser.add_argument("--json", action="store_true", help="print JSON")
            parser.set_defaults(run=lambda args: asyncio.run(_config_get(args)))
        else:
            parser.add_argument("assignments", nargs="+", metavar="NAME=VALUE")
            parser.set_defaults(run=lambda args: asyncio.run(_config_set(args)))
