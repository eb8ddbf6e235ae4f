"""The supervisor's control socket: how operator commands reach a running ``keyforge up``.

The supervisor owns every child process, so a command that must restart one
(``keyforge secret rotate``) asks the supervisor instead of touching PIDs. A
Unix socket in the data dir, readable by its owner only, carries one JSON
request line; the supervisor answers with JSON lines (``progress`` messages,
then one ``done``). It is polled from the supervisor's own loop, so a request
runs on the thread that owns the children, and no thread is ever needed.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import select
import socket
import tempfile
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

SOCKET_NAME = "control.sock"
# sun_path holds 108 bytes on Linux; longer data-dir paths get a short one.
MAX_SOCKET_PATH = 100
REQUEST_LIMIT = 64 * 1024
READ_TIMEOUT_S = 5.0


class Reply:
    """What a handler sends back. A client that went away never stops the work."""

    def __init__(self, conn: socket.socket) -> None:
        self.conn = conn

    def _send(self, message: Mapping[str, Any]) -> None:
        with contextlib.suppress(OSError):
            self.conn.sendall(json.dumps(message).encode() + b"\n")

    def progress(self, text: str) -> None:
        self._send({"progress": text})

    def done(self, *, ok: bool, message: str, **details: Any) -> None:
        self._send({"done": True, "ok": ok, "message": message, **details})


Handler = Callable[[Mapping[str, Any], Reply], None]


def socket_path(data_dir: Path) -> Path:
    path = data_dir / SOCKET_NAME
    if len(os.fsencode(path)) <= MAX_SOCKET_PATH:
        return path
    digest = hashlib.sha256(os.fsencode(data_dir)).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"keyforge-{digest}.sock"


class ControlServer:
    def __init__(self, path: Path) -> None:
        self.path = path
        path.unlink(missing_ok=True)  # left by a supervisor that was killed
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old_umask = os.umask(0o177)
        try:
            self.sock.bind(str(path))
        finally:
            os.umask(old_umask)
        self.sock.listen(4)
        self.sock.setblocking(False)

    def serve_once(self, timeout_s: float, handlers: Mapping[str, Handler]) -> None:
        """Wait up to ``timeout_s`` for one request and run it to its end."""
        ready, _, _ = select.select([self.sock], [], [], timeout_s)
        if not ready:
            return
        try:
            conn, _ = self.sock.accept()
        except BlockingIOError:
            return
        with conn:
            conn.setblocking(True)
            conn.settimeout(READ_TIMEOUT_S)
            reply = Reply(conn)
            try:
                request = json.loads(_read_line(conn))
                handler = handlers[request["command"]]
            except (OSError, ValueError, KeyError, TypeError):
                reply.done(ok=False, message="not a request this supervisor understands")
                return
            conn.settimeout(None)
            handler(request, reply)

    def close(self) -> None:
        self.sock.close()
        self.path.unlink(missing_ok=True)


def _read_line(conn: socket.socket) -> bytes:
    data = b""
    while b"\n" not in data:
        chunk = conn.recv(4096)
        if not chunk or len(data) > REQUEST_LIMIT:
            break
        data += chunk
    return data.split(b"\n", 1)[0]


def call(path: Path, request: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    """Send one request; yield every message of the answer, the ``done`` one last."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.connect(str(path))
        sock.sendall(json.dumps(request).encode() + b"\n")
        with sock.makefile("rb") as answers:
            for line in answers:
                message: dict[str, Any] = json.loads(line)
                yield message
                if message.get("done"):
                    return
    raise ConnectionError("the supervisor closed the connection without an answer")
