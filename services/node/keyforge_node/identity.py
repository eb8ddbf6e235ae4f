"""The node's state dir: its stable id and token, and a lock so that one node runs per dir.

The original made a new id on every start, so a restarted machine looked like
a new node and its history split. Here the id is made once, kept in
``<state-dir>/node-id``, and reused on every start. The first registration
of an id claims it: the hive answers a token, kept beside the id in
``<state-dir>/node-token`` (0600), that proves the node is that node. A
node that lost its token cannot take its id back: it registers under a new
one (:meth:`NodeIdentity.renew`).
"""

from __future__ import annotations

import fcntl
import re
import secrets
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from keyforge_shared.private_files import write_private

ID_FILE = "node-id"
TOKEN_FILE = "node-token"  # noqa: S105 - a file name, not a secret
LOCK_FILE = "node.lock"
# The hive's NodeId: 1-128 of these characters.
_VALID_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}\Z")
_UNSAFE = re.compile(r"[^A-Za-z0-9.-]+")


def new_node_id() -> str:
    host = _UNSAFE.sub("-", socket.gethostname()).strip("-.")[:40] or "node"
    return f"{host}-{secrets.token_hex(6)}"


def stable_node_id(state_dir: Path) -> str:
    """The id kept in the state dir, made (and kept) on first use."""
    path = state_dir / ID_FILE
    try:
        kept = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        kept = ""
    if _VALID_ID.match(kept):
        return kept
    if kept:
        raise SystemExit(f"keyforge: {path} holds no valid node id; fix or remove it")
    node_id = new_node_id()
    write_private(path, node_id + "\n")
    return node_id


@dataclass
class NodeIdentity:
    """The node's id and, once a registration claimed it, its token, kept in the state dir."""

    state_dir: Path
    node_id: str
    token: str | None

    @classmethod
    def load(cls, state_dir: Path) -> NodeIdentity:
        node_id = stable_node_id(state_dir)
        try:
            token = (state_dir / TOKEN_FILE).read_text(encoding="utf-8").strip() or None
        except FileNotFoundError:
            token = None
        return cls(state_dir, node_id, token)

    def keep(self, token: str) -> None:
        write_private(self.state_dir / TOKEN_FILE, token + "\n")
        self.token = token

    def renew(self) -> str:
        """A new id, for a node whose id is claimed by a token it does not hold."""
        (self.state_dir / TOKEN_FILE).unlink(missing_ok=True)
        self.node_id, self.token = new_node_id(), None
        write_private(self.state_dir / ID_FILE, self.node_id + "\n")
        return self.node_id


def lock_state_dir(state_dir: Path) -> IO[str]:
    """Held while the node runs: two nodes sharing one id would fight over its leases."""
    state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    handle = (state_dir / LOCK_FILE).open("w")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise SystemExit(f"keyforge: a node already runs from {state_dir}") from None
    return handle
