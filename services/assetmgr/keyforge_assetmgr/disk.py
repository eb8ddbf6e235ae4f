"""The assets directory as assetmgr sees it: which files count, and reading one safely.

A file is read only when it is settled: no process we can see holds it open
for writing (Linux ``/proc``), it has not been modified for ``settle_s``, and
it is unchanged across the read. A file still being written is therefore not
published, even by a writer that pauses longer than ``settle_s``; its last
valid version stays served until the writer is done. (A writer in another
container is invisible to ``/proc``: there the quiet period is the guard.)
"""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path

from keyforge_shared.asset_paths import is_safe_asset_path

# Editor swap files, partial downloads, atomic-write temporaries.
_TEMPORARY_SUFFIXES = (
    "~",
    ".swp",
    ".swx",
    ".swo",
    ".tmp",
    ".part",
    ".crdownload",
    ".kate-swp",
)


class Refused(Exception):
    """A file that will not be published whatever its content (unsafe name, symlink, size)."""


class Unsettled(Exception):
    """A file still being written; look again after ``retry_after_s``."""

    def __init__(self, retry_after_s: float) -> None:
        super().__init__(f"still being written, retry in {retry_after_s:.2f}s")
        self.retry_after_s = retry_after_s


def is_ignored(rel: str) -> bool:
    """Hidden files and directories, and editors' temporaries, are not assets."""
    parts = rel.split("/")
    if any(p.startswith(".") or (p.startswith("#") and p.endswith("#")) for p in parts):
        return True
    return parts[-1].endswith(_TEMPORARY_SUFFIXES)


def relative_path(root: Path, path: Path | str) -> str | None:
    """``path`` relative to ``root`` in POSIX form, or None when it is outside."""
    try:
        rel = Path(os.path.abspath(path)).relative_to(os.path.abspath(root))
    except ValueError:
        return None
    text = rel.as_posix()
    return None if text in ("", ".") else text


def list_asset_files(root: Path, under: str = "") -> list[str]:
    """Every candidate file below ``root`` (or its subdirectory ``under``), sorted.

    Directory symlinks are not followed: a directory tree can only be served
    from inside the assets dir. File symlinks are listed and checked on read.
    """
    found: list[str] = []
    top = root / under if under else root
    for current, dirs, files in os.walk(top, followlinks=False):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in files:
            rel = relative_path(root, Path(current) / name)
            if rel is not None and not is_ignored(rel):
                found.append(rel)
    return sorted(found)


def open_for_writing(real_path: str) -> bool:
    """Whether a process visible in ``/proc`` holds ``real_path`` open for writing."""
    try:
        pids = [entry.name for entry in os.scandir("/proc") if entry.name.isdigit()]
    except OSError:
        return False  # no /proc: fall back on the quiet period alone
    for pid in pids:
        fd_dir = f"/proc/{pid}/fd"
        try:
            fds = os.listdir(fd_dir)
        except OSError:
            continue  # gone, or not ours to look at
        for fd in fds:
            try:
                if os.readlink(f"{fd_dir}/{fd}") != real_path:
                    continue
            except OSError:
                continue
            if _opened_for_writing(f"/proc/{pid}/fdinfo/{fd}"):
                return True
    return False


def _opened_for_writing(fdinfo: str) -> bool:
    try:
        with open(fdinfo, encoding="ascii") as handle:
            for line in handle:
                if line.startswith("flags:"):
                    return int(line.split()[1], 8) & os.O_ACCMODE != os.O_RDONLY
    except (OSError, ValueError):
        return False
    return False


def _resolve_inside(root: Path, rel: str) -> Path:
    """The real file behind ``rel``; Refused when it (or a symlink on the way) leaves ``root``."""
    real_root = os.path.realpath(root)
    real = os.path.realpath(root / rel)
    if os.path.commonpath([real_root, real]) != real_root:
        raise Refused("symlink leaves the assets directory")
    return Path(real)


# Rewriting a file in place (open with O_TRUNC) empties it and stamps its
# mtime inside the open call, before the writer's descriptor exists; on a
# loaded machine the kernel can take a good fraction of a second there (the
# old pages' writeback), so an empty file with no writer in /proc may be one
# about to be written. An empty file is trusted only after a longer quiet period.
EMPTY_SETTLE_S = 2.0


def read_settled(root: Path, rel: str, *, max_bytes: int, settle_s: float) -> bytes | None:
    """The file's bytes, or None when it does not exist (or is not a regular file).

    Raises Refused or Unsettled. Blocking: call it in a worker thread.
    """
    if not is_safe_asset_path(rel):
        raise Refused("path has characters or segments assets may not use")
    try:
        target = _resolve_inside(root, rel)
        before = os.stat(target)
    except FileNotFoundError:
        return None
    if not stat.S_ISREG(before.st_mode):
        return None
    if before.st_size > max_bytes:
        raise Refused(f"{before.st_size} bytes is over the {max_bytes}-byte limit")
    age_s = time.time() - before.st_mtime_ns / 1e9
    quiet_s = settle_s if before.st_size else max(settle_s, EMPTY_SETTLE_S)
    if age_s < quiet_s:
        raise Unsettled(quiet_s - max(age_s, 0.0))
    if open_for_writing(str(target)):
        raise Unsettled(max(settle_s, 0.05))
    try:
        with open(target, "rb") as handle:
            data = handle.read(max_bytes + 1)
        after = os.stat(target)
    except FileNotFoundError:
        return None
    identity = (before.st_ino, before.st_size, before.st_mtime_ns)
    if identity != (after.st_ino, after.st_size, after.st_mtime_ns) or len(data) != after.st_size:
        raise Unsettled(settle_s or 0.05)
    return data
