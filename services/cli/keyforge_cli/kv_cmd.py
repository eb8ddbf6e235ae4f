"""``keyforge kv cat``, ``keyforge kv get`` and ``keyforge gc``: the operator's KV views.

Like the original tool's ``maand cat kv``: ``kv cat`` prints every version
of every key (``--active``: only the live ones), optionally only what the
given jobs see (``vars/fleet`` and their two namespaces); ``kv get`` prints
one key, its secret value only with ``--reveal``. ``gc`` asks a hive
(``POST /kv/gc``) to purge versions that have been dead (superseded,
deleted, expired) for more than ``--retain-days`` days.
"""

from __future__ import annotations

import argparse
import asyncio
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
from keyforge_shared.protocol.kv import (
    DEFAULT_RETAIN_DAYS,
    KvGcIn,
    KvGcPurged,
    KvKey,
    KvKeys,
    KvNamespaces,
)

HIDDEN = "(secret)"
STATE_STYLE = {"live": "green", "superseded": "dim", "deleted": "red", "expired": "yellow"}


def _job_namespaces(job: str) -> list[str]:
    return [f"vars/job/{job}", f"secrets/job/{job}"]


def _resolve_jobs(wanted: list[str], known: list[str]) -> list[str]:
    """Full job ids for ids or unambiguous prefixes (of jobs that have KV namespaces)."""
    jobs = sorted({ns.rsplit("/", 1)[1] for ns in known if "/job/" in ns})
    resolved = []
    for prefix in wanted:
        matches = [j for j in jobs if j.startswith(prefix)]
        if len(matches) > 1:
            raise OperatorError(f"job prefix {prefix!r} is ambiguous")
        resolved.append(matches[0] if matches else prefix)
    return resolved


def _short(namespace: str) -> str:
    head, sep, job = namespace.rpartition("/job/")
    return f"{head}/job/{job[:12]}…" if sep and len(job) > 12 else namespace


def _value(key: KvKey) -> str:
    if key.secret and key.value is None:
        return HIDDEN if key.state != "deleted" else ""
    return "" if key.value is None else key.value


def _table(title: str, keys: list[KvKey], *, history: bool) -> Table:
    table = Table(title=title, title_justify="left")
    for column in ("NAMESPACE", "KEY", "VALUE", "VERSION", "TTL", "CREATED", "BY"):
        table.add_column(column, overflow="fold")
    if history:
        table.add_column("STATE")
    for key in keys:
        row = [
            _short(key.namespace),
            key.key,
            _value(key),
            str(key.version),
            "" if key.ttl is None else f"{key.ttl}s",
            key.created_at.strftime("%Y-%m-%d %H:%M:%S"),
            key.created_by,
        ]
        if history:
            state = key.state or "live"
            row.append(f"[{STATE_STYLE.get(state, '')}]{state}[/]")
        table.add_row(*row)
    return table


async def _namespace_keys(
    client: httpx.AsyncClient, namespace: str, *, history: bool
) -> list[KvKey]:
    response = await client.get(f"/kv/{namespace}", params={"history": str(history).lower()})
    return reply_as(response, KvKeys).keys


async def _cat(args: argparse.Namespace) -> int:
    history = not args.active
    async with admin_client(args) as client:
        listed = reply_as(await client.get("/kv"), KvNamespaces)
        known = [n.namespace for n in listed.namespaces]
        if args.jobs:
            wanted = [j.strip() for part in args.jobs for j in part.split(",") if j.strip()]
            namespaces = ["vars/fleet"]
            for job in _resolve_jobs(wanted, known):
                namespaces += _job_namespaces(job)
        else:
            namespaces = known
        keys = []
        for namespace in namespaces:
            keys += await _namespace_keys(client, namespace, history=history)
    title = "kv (live keys)" if args.active else "kv (every version)"
    Console().print(_table(title, keys, history=history))
    return 0


async def _get(args: argparse.Namespace) -> int:
    async with admin_client(args) as client:
        response = await client.get(
            f"/kv/{args.namespace.strip('/')}/{args.key}",
            params={"reveal": "true"} if args.reveal else None,
        )
    key = reply_as(response, KvKey)
    if args.raw:
        print("" if key.value is None else key.value)
    else:
        Console().print(_table(f"{key.namespace} {key.key}", [key], history=False))
    return 0


async def _gc(args: argparse.Namespace) -> int:
    if args.retain_days < 0:
        raise OperatorError("--retain-days must be 0 or more")
    request = KvGcIn(retain_days=args.retain_days)
    async with admin_client(args) as client:
        response = await client.post("/kv/gc", json=request.model_dump())
    purged = reply_as(response, KvGcPurged)
    table = Table(title=f"kv gc: versions dead for more than {purged.retain_days} days")
    table.add_column("REASON")
    table.add_column("PURGED", justify="right")
    table.add_row("superseded", str(purged.superseded))
    table.add_row("deleted", str(purged.deleted))
    table.add_row("expired", str(purged.expired))
    Console().print(table)
    return 0


def add_commands(sub: Any) -> None:
    kv = sub.add_parser("kv", help="the versioned KV: list and read keys")
    verbs = kv.add_subparsers(dest="verb", required=True)
    cat = verbs.add_parser("cat", help="print keys as a table (every version unless --active)")
    add_hive_arguments(cat)
    cat.add_argument("--jobs", action="append", help="only what these jobs see (ids or prefixes)")
    cat.add_argument("--active", action="store_true", help="only the live version of each key")
    cat.set_defaults(run=lambda args: asyncio.run(_cat(args)))
    get = verbs.add_parser("get", help="print one key")
    add_hive_arguments(get)
    get.add_argument("--reveal", action="store_true", help="show a secret's value (audited)")
    get.add_argument("--raw", action="store_true", help="print the value only")
    get.add_argument("namespace", metavar="NS")
    get.add_argument("key", metavar="KEY")
    get.set_defaults(run=lambda args: asyncio.run(_get(args)))
    gc = sub.add_parser("gc", help="purge old KV history (superseded, deleted, expired)")
    add_hive_arguments(gc)
    gc.add_argument(
        "--retain-days",
        type=int,
        default=DEFAULT_RETAIN_DAYS,
        help=f"keep what died within this many days (default {DEFAULT_RETAIN_DAYS})",
    )
    gc.set_defaults(run=lambda args: asyncio.run(_gc(args)))
