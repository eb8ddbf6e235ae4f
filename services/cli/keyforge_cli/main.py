"""``keyforge``: one command for the local fleet and its operators."""

from __future__ import annotations

import argparse
import logging

from keyforge_cli import backup_cmd, fleet_cmd, job_cmd, kv_cmd, settings_cmd, status
from keyforge_devstack import rotate, up
from keyforge_node import command as node
from keyforge_swarm import command as swarm


def main() -> None:
    parser = argparse.ArgumentParser(prog="keyforge", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    up.add_commands(sub)
    rotate.add_commands(sub)
    settings_cmd.add_commands(sub)
    kv_cmd.add_commands(sub)
    fleet_cmd.add_commands(sub)
    backup_cmd.add_commands(sub)
    node.add_commands(sub)
    swarm.add_commands(sub)
    status.add_commands(sub)
    job_cmd.add_commands(sub)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="keyforge: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    raise SystemExit(args.run(args))
