"""``keyforge secret rotate``: the rolling secret rotation runbook, automated for the local stack.

1. Every hive, one at a time, restarts with the new secret as current and the
   old one as previous: each accepts both. Apache stops sending a hive
   requests before it stops and sends them again once it is healthy, so no
   request fails while this happens.
2. The new secret is written to its file (and ``stack.json``): nodes that get
   a 401 re-read it and carry on with the new one.
3. Every hive, one at a time again, restarts with only the new secret: from
   now on the old one is refused, which is checked on every hive.

The supervisor (the ``keyforge up`` process) owns the hives, so the command
sends it one request over the control socket and prints its progress.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import httpx

from keyforge_devstack import control
from keyforge_devstack.credentials import SecretRole, new_secret, store_secret
from keyforge_devstack.fleet import Fleet
from keyforge_shared.client.stackfile import read_stack, running_supervisor
from keyforge_shared.protocol import headers

ENV_NAMES: dict[SecretRole, tuple[str, str]] = {
    "hive": ("HIVE_SECRET", "HIVE_SECRET_PREVIOUS"),
    "admin": ("HIVE_ADMIN_SECRET", "HIVE_ADMIN_SECRET_PREVIOUS"),
}
HEADERS: dict[SecretRole, str] = {"hive": headers.NODE_SECRET, "admin": headers.ADMIN_SECRET}
# GET /nodes is admin-only and changes nothing: the admin secret gets 200, the
# node secret 403 (right secret, wrong role), a refused secret 401.
PROBE_PATH = "/nodes"
ACCEPTED: dict[SecretRole, int] = {"hive": 403, "admin": 200}


def rotate_secret(
    fleet: Fleet,
    role: SecretRole,
    *,
    progress: Callable[[str], None],
    publish: Callable[[], None],
) -> None:
    """Run the runbook on ``fleet``; ``publish`` rewrites ``stack.json`` after each change."""
    current, previous = ENV_NAMES[role]
    hives = fleet.hives
    for hive in hives:
        if hive.process is None or hive.process.poll() is not None:
            raise RuntimeError(f"{hive.name} is not running; rotate once the fleet is whole")
    if fleet.balancer is None:
        progress("Apache is not running: each hive is briefly unreachable as it restarts")
    elif len(hives) < 2:
        progress("one hive only: requests fail while it restarts (run `keyforge up --hives 2`)")
    old = fleet.creds.hive_secret if role == "hive" else fleet.creds.admin_secret
    new = new_secret()
    for hive in hives:
        fleet.restart_hive(hive, {current: new, previous: old})
        publish()
        progress(f"{hive.name} accepts the new and the old {role} secret")
    fleet.creds = store_secret(fleet.creds, role, new)
    publish()
    progress(f"the new {role} secret is in {fleet.creds.secrets_dir / role}")
    for hive in hives:
        fleet.restart_hive(hive, {current: new, previous: None})
        publish()
        progress(f"{hive.name} accepts the new {role} secret only")
    for hive in hives:
        _check_refused(hive.url, role, old=old, new=new)
    progress(f"every hive refuses the old {role} secret")


def _check_refused(url: str, role: SecretRole, *, old: str, new: str) -> None:
    header = HEADERS[role]
    with httpx.Client(base_url=url, timeout=5.0) as client:
        refused = client.get(PROBE_PATH, headers={header: old}).status_code
        accepted = client.get(PROBE_PATH, headers={header: new}).status_code
    if refused != 401 or accepted != ACCEPTED[role]:
        raise RuntimeError(
            f"{url} answers {refused} to the old {role} secret and {accepted} to the new one"
        )


def control_handler(
    fleet: Fleet, publish: Callable[[], None]
) -> Callable[[Mapping[str, Any], control.Reply], None]:
    """The supervisor's side of ``keyforge secret rotate``."""

    def handle(request: Mapping[str, Any], reply: control.Reply) -> None:
        role = request.get("role")
        if role not in ENV_NAMES:
            reply.done(ok=False, message=f"unknown secret role {role!r}")
            return
        try:
            rotate_secret(fleet, role, progress=reply.progress, publish=publish)
        except Exception as exc:
            reply.done(ok=False, message=f"rotation stopped: {exc}")
            return
        reply.done(
            ok=True,
            message=f"the {role} secret is rotated",
            secret_file=str(fleet.creds.secrets_dir / role),
        )

    return handle


def run_rotate(args: argparse.Namespace) -> int:
    data_dir = Path(args.data_dir).resolve()
    stack = read_stack(data_dir)
    if stack is None or running_supervisor(data_dir) is None:
        print(f"keyforge: no fleet runs from {data_dir}; start one with `keyforge up`")
        return 1
    role: SecretRole = "admin" if args.admin else "hive"
    path = Path(stack.get("control_socket") or control.socket_path(data_dir))
    print(f"keyforge: rotating the {role} secret of the fleet in {data_dir}", flush=True)
    try:
        for message in control.call(path, {"command": "rotate_secret", "role": role}):
            if "progress" in message:
                print(f"  {message['progress']}", flush=True)
            elif message.get("done"):
                print(f"keyforge: {message['message']}", flush=True)
                return 0 if message.get("ok") else 1
    except (OSError, ValueError) as exc:
        print(f"keyforge: the supervisor did not answer: {exc}")
    return 1


def add_commands(sub: Any) -> None:
    secret = sub.add_parser("secret", help="operate the fleet's shared secrets")
    actions = secret.add_subparsers(dest="action", required=True)
    rotate = actions.add_parser(
        "rotate", help="rotate the node secret (or the admin secret) with no failed request"
    )
    rotate.add_argument("--data-dir", default=".keyforge")
    rotate.add_argument("--admin", action="store_true", help="rotate the admin secret")
    rotate.set_defaults(run=run_rotate)
