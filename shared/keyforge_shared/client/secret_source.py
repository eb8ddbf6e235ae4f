"""A shared secret as clients hold it: from a file that rotation rewrites, or the environment.

Rotation (``keyforge secret rotate``, or an orchestrator's rolling restart)
writes the new secret to the file once every hive accepts it, and only later
makes the hives refuse the old one. A client that notices the file change
right away never sends a refused secret; one that missed it re-reads the
source when a hive answers 401 (``refresh``) and carries on. Either way no
restart is needed.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

log = logging.getLogger(__name__)

# A stat() per second at most: cheap, and well inside a rotation's phases.
CHECK_INTERVAL_S = 1.0


class SecretMissing(RuntimeError):
    pass


class SecretSource:
    """``path`` (re-read when it changes) or the environment variable ``env_name``."""

    def __init__(self, *, path: Path | None = None, env_name: str | None = None) -> None:
        if (path is None) == (env_name is None):
            raise ValueError("a secret comes from exactly one of a file or an env var")
        self.path, self.env_name = path, env_name
        self._value: str | None = None
        self._stamp: tuple[int, int, int] | None = None
        self._checked_at = -float("inf")

    def describe(self) -> str:
        return str(self.path) if self.path else f"${self.env_name}"

    def current(self) -> str:
        """The secret to send now; notices a rewritten file within ``CHECK_INTERVAL_S``."""
        now = time.monotonic()
        if self._value is None or now - self._checked_at >= CHECK_INTERVAL_S:
            self._checked_at = now
            if self._value is None or self._stamp != self._file_stamp():
                self._load()
        assert self._value is not None
        return self._value

    def refresh(self) -> bool:
        """Read the source again now (the hive refused us); True if the secret changed."""
        before = self._value
        self._checked_at = time.monotonic()
        self._load()
        return self._value != before

    def _file_stamp(self) -> tuple[int, int, int] | None:
        if self.path is None:
            return None
        try:
            st = self.path.stat()
        except OSError:
            return None
        return (st.st_ino, st.st_mtime_ns, st.st_size)

    def _load(self) -> None:
        if self.path is not None:
            self._stamp = self._file_stamp()
            try:
                value = self.path.read_text(encoding="utf-8").strip()
            except OSError as exc:
                value = ""
                log.warning("cannot read the secret file %s: %s", self.path, exc.strerror)
        else:
            value = os.environ.get(self.env_name or "", "").strip()
        if value:
            if self._value is not None and value != self._value:
                log.info("the secret in %s changed; using the new one", self.describe())
            self._value = value
        elif self._value is None:
            raise SecretMissing(f"no secret in {self.describe()}")
