"""``keyforge-node``: the worker node on its own, from the node-only install."""

from __future__ import annotations

import argparse

from keyforge_node.command import add_node_arguments


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="keyforge-node",
        description="A KeyForge worker node: registers, heartbeats, optimises leased jobs.",
    )
    add_node_arguments(parser)
    args = parser.parse_args()
    raise SystemExit(args.run(args))
