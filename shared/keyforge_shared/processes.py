"""Child processes started by us and stopped by their own PID, never by name."""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import psutil

PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    # If the supervisor is killed outright, the kernel sends each child SIGTERM
    # so nothing of ours outlives it.
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def spawn(
    argv: Sequence[str | Path],
    *,
    log_file: Path,
    env: Mapping[str, str] | None = None,
    user: int | None = None,
    group: int | None = None,
    die_with_parent: bool = True,
    cwd: Path | None = None,
    own_group: bool = True,
) -> subprocess.Popen[bytes]:
    """Start a child with its output in ``log_file``.

    ``own_group`` keeps a terminal's Ctrl-C away from the child: the supervisor
    gets it and stops children in dependency order.
    """
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with log_file.open("ab") as log:
        preexec: Callable[[], None] | None = _die_with_parent if die_with_parent else None
        return subprocess.Popen(
            [str(a) for a in argv],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=dict(env) if env is not None else None,
            user=user,
            group=group,
            preexec_fn=preexec,  # noqa: PLW1509 - called before any thread exists
            cwd=cwd,
            process_group=0 if own_group else None,
        )


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie still answers signal 0; it is gone for our purposes.
    with contextlib.suppress(OSError):
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] != "Z"
    return True


def stop_process(
    process: subprocess.Popen[bytes], *, sig: int = signal.SIGTERM, grace_s: float = 10.0
) -> int | None:
    """Signal, wait up to ``grace_s``, then SIGKILL; returns the exit code."""
    if process.poll() is not None:
        return process.returncode
    with contextlib.suppress(ProcessLookupError):
        process.send_signal(sig)
    try:
        return process.wait(grace_s)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        return process.wait(5)


def stop_pid(pid: int, *, sig: int = signal.SIGTERM, grace_s: float = 10.0) -> None:
    """The same for a process that is not our child (``keyforge down``)."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)
    deadline = time.monotonic() + grace_s
    while pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    if pid_alive(pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def listens(pid: int, port: int) -> bool:
    """Whether ``pid`` (or a child of it) itself holds a listening socket on ``port``.

    A port that was free when it was planned may be taken by another program
    before our server binds it; connecting to it would then reach a stranger.
    """
    try:
        process = psutil.Process(pid)
        family = [process, *process.children(recursive=True)]
        connections = [c for p in family for c in p.net_connections(kind="tcp")]
    except psutil.Error:
        return False
    return any(c.status == psutil.CONN_LISTEN and c.laddr.port == port for c in connections)


def wait_for_port(port: int, *, timeout_s: float, process: subprocess.Popen[bytes]) -> None:
    """Until the process listens on the port, or dies."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"process {process.pid} exited with {process.returncode}")
        if listens(process.pid, port):
            return
        time.sleep(0.05)
    raise TimeoutError(
        f"process {process.pid} does not listen on port {port} after {timeout_s:.0f}s"
    )
