"""``keyforge job``: create a search from published assets, list, show, follow and steer jobs."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

from rich.console import Console

from keyforge_cli import job_watch
from keyforge_cli.job_assets import PublishedAssets
from keyforge_cli.job_client import get_json, job_clients, keycode_labels, resolve_job_id
from keyforge_cli.job_spec import build_job_body
from keyforge_cli.job_view import job_panel, jobs_table
from keyforge_cli.operator_target import OperatorError, add_hive_arguments, fail_on_error
from keyforge_shared.protocol.records import EXPORT_FORMATS

ACTIONS = ("pause", "resume", "cancel", "complete")


async def _create(args: argparse.Namespace) -> int:
    async with job_clients(args) as clients:
        if clients.gateway is None:
            raise OperatorError("no asset gateway: give --stack, or --hive with an api. name")
        if not clients.admin:
            raise OperatorError(
                "creating a job needs the admin secret (--stack or HIVE_ADMIN_SECRET)"
            )
        assets = await PublishedAssets.load(clients.gateway)
        body = await build_job_body(
            assets,
            keyboard=args.keyboard,
            weights=args.weights,
            corpus=args.corpus,
            cost_matrix=args.cost_matrix,
            pins=args.pin,
            optimize=args.optimize,
            params=args.params,
        )
        answer = fail_on_error(await clients.hive.post("/jobs", json=body))
    print(answer["job_id"])
    if not answer["is_new"]:
        Console(stderr=True).print("that job already existed", style="dim")
    return 0


async def _list(args: argparse.Namespace) -> int:
    async with job_clients(args) as clients:
        params: dict[str, Any] = {"limit": args.limit}
        if args.status:
            params["status"] = args.status
        jobs = await get_json(clients.hive, "/jobs", **params)
    Console().print(jobs_table(jobs))
    return 0


async def _show(args: argparse.Namespace) -> int:
    async with job_clients(args) as clients:
        job_id = await resolve_job_id(clients.hive, args.job)
        job = await get_json(clients.hive, f"/jobs/{job_id}")
        labels = await keycode_labels(clients.gateway)
    Console().print(job_panel(job, labels))
    return 0


async def _action(args: argparse.Namespace) -> int:
    async with job_clients(args) as clients:
        job_id = await resolve_job_id(clients.hive, args.job)
        answer = fail_on_error(await clients.hive.post(f"/jobs/{job_id}/{args.verb}"))
    change = "now" if answer["changed"] else "already"
    Console().print(f"job {job_id[:12]} is {change} {answer['status']}", highlight=False)
    return 0


async def _export(args: argparse.Namespace) -> int:
    async with job_clients(args) as clients:
        job_id = await resolve_job_id(clients.hive, args.job)
        params = {"format": args.format}
        if args.layout:
            params["layout"] = args.layout
        response = await clients.hive.get(f"/jobs/{job_id}/export", params=params)
    if not response.is_success:
        fail_on_error(response)
    if args.output:
        await asyncio.to_thread(Path(args.output).write_bytes, response.content)
    else:
        sys.stdout.write(response.text)
    return 0


def _runner(verb: Any) -> Any:
    return lambda args: asyncio.run(verb(args))


def add_commands(sub: Any) -> None:
    job = sub.add_parser("job", help="create, list, show, follow and steer searches")
    verbs = job.add_subparsers(dest="verb", required=True)

    create = verbs.add_parser("create", help="a new search from the published assets")
    add_hive_arguments(create)
    create.add_argument("--keyboard", required=True, help="file name (split_3x6_3) or meta.name")
    create.add_argument("--weights", help="weights file name (default: the board's kind)")
    create.add_argument("--corpus", help="corpus name (default: default)")
    create.add_argument("--cost-matrix", help="cost matrix file (default: the board's own)")
    create.add_argument("--pin", action="append", default=[], metavar="SLOT:KEYCODE")
    create.add_argument(
        "--optimize",
        choices=("alpha", "all"),
        default="alpha",
        help="alpha: only character keys move (default); all: every key",
    )
    create.add_argument("--params", nargs="+", default=[], metavar="NAME=NUMBER")
    create.set_defaults(run=_runner(_create))

    listing = verbs.add_parser("list", help="the jobs as a table")
    add_hive_arguments(listing)
    listing.add_argument("--status", choices=("active", "paused", "done", "cancelled"))
    listing.add_argument("--limit", type=int, default=50)
    listing.set_defaults(run=_runner(_list))

    show = verbs.add_parser("show", help="the best layout on its keyboard, with its metrics")
    add_hive_arguments(show)
    show.add_argument("job", help="a job id or a unique prefix of one")
    show.set_defaults(run=_runner(_show))

    watch = verbs.add_parser("watch", help="follow a job live until Ctrl-C")
    add_hive_arguments(watch)
    watch.add_argument("job", help="a job id or a unique prefix of one")
    watch.set_defaults(run=job_watch.run)

    for verb in ACTIONS:
        action = verbs.add_parser(verb, help=f"{verb} a job (admin)")
        add_hive_arguments(action)
        action.add_argument("job", help="a job id or a unique prefix of one")
        action.set_defaults(run=_runner(_action))

    export = verbs.add_parser("export", help="the best layout for a keyboard's firmware or KLE")
    add_hive_arguments(export)
    export.add_argument("job", help="a job id or a unique prefix of one")
    export.add_argument("--format", required=True, choices=EXPORT_FORMATS)
    export.add_argument("--layout", help="another layout valid for the job")
    export.add_argument("--output", "-o", help="write to this file instead of stdout")
    export.set_defaults(run=_runner(_export))
