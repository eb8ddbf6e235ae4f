"""The swarm's node tokens, kept between runs (0600, like a node's own state dir).

A node id is claimed by its first registration; a later run of the swarm
against the same fleet needs those tokens to be the same nodes again. Kept
by base id (``<prefix>-00000``): the id the node actually had (a new one if
its base id was claimed by a token this swarm never held) and its token.
"""

from __future__ import annotations

import json
from pathlib import Path

from keyforge_shared.private_files import write_private

FILE_NAME = "swarm-tokens.json"

Kept = dict[str, tuple[str, str]]  # base id -> (node id, token)


def load_tokens(path: Path | None) -> Kept:
    if path is None:
        return {}
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):
        return {}
    if not isinstance(raw, dict):
        return {}
    return {
        str(base): (str(entry[0]), str(entry[1]))
        for base, entry in raw.items()
        if isinstance(entry, list) and len(entry) == 2
    }


def save_tokens(path: Path | None, kept: Kept) -> None:
    if path is not None:
        write_private(path, json.dumps({base: list(pair) for base, pair in kept.items()}))
