"""The node's asset cache: bytes from the gateway, verified by SHA-256, kept by hash.

Every file is named by the hash the manifest (or the lease) gives for it, so
a cached file can only ever be the bytes that hash names: it is verified
when it arrives, before it is written, and again whenever it is read (disk
rot and tampering look alike, and both are refused). Bytes whose hash does
not match are reported and never used; nothing is ever written but
``<cache>/<sha256>`` files, through a temporary file in the same directory
and an atomic rename, so no name from the network reaches a path.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import tempfile
from pathlib import Path

import httpx

log = logging.getLogger(__name__)

SHA256 = re.compile(r"[0-9a-f]{64}\Z")


class AssetRefused(Exception):
    """Bytes whose SHA-256 is not the one they were asked for."""

    def __init__(self, path: str, expected: str, actual: str, source: str) -> None:
        super().__init__(
            f"{path} from {source} hashes to {actual[:16]}..., expected {expected[:16]}...: refused"
        )
        self.path, self.expected, self.actual, self.source = path, expected, actual, source

    def __reduce__(self) -> tuple[type[AssetRefused], tuple[str, str, str, str]]:
        # Raised in worker processes too: it must cross back intact.
        return AssetRefused, (self.path, self.expected, self.actual, self.source)


class AssetUnavailable(Exception):
    """The gateway is down, or does not serve what the job names."""


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def verified(data: bytes, *, path: str, sha256: str, source: str) -> bytes:
    actual = sha256_hex(data)
    if actual != sha256:
        raise AssetRefused(path, sha256, actual, source)
    return data


class AssetCache:
    def __init__(self, root: Path, gateway: httpx.AsyncClient) -> None:
        self.root = root
        self.gateway = gateway
        self.refused = 0  # hash mismatches seen, for the node's report
        root.mkdir(parents=True, exist_ok=True, mode=0o700)

    def file_for(self, sha256: str) -> Path:
        if not SHA256.match(sha256):
            raise ValueError(f"{sha256[:80]!r} is not a SHA-256 hex digest")
        return self.root / sha256

    def cached(self, path: str, sha256: str) -> Path | None:
        """The cached file for ``sha256`` if it is intact; a damaged one is reported and removed."""
        file = self.file_for(sha256)
        try:
            data = file.read_bytes()
        except FileNotFoundError:
            return None
        try:
            verified(data, path=path, sha256=sha256, source=f"the cache ({file})")
        except AssetRefused as exc:
            self.refused += 1
            log.warning("asset refused: %s; removing it", exc)
            file.unlink(missing_ok=True)
            return None
        return file

    async def fetch(self, path: str, sha256: str) -> Path:
        """The verified file for ``path`` at ``sha256``: from the cache, else the gateway."""
        file = self.cached(path, sha256)
        if file is not None:
            return file
        data = await self._download(path, sha256)
        try:
            verified(
                data, path=path, sha256=sha256, source=f"the gateway ({self.gateway.base_url})"
            )
        except AssetRefused as exc:
            self.refused += 1
            log.warning("asset refused: %s", exc)
            raise
        return self._store(sha256, data)

    async def manifest(self) -> dict[str, str]:
        """path -> sha256 as the gateway publishes it now."""
        try:
            response = await self.gateway.get("/manifest")
        except httpx.TransportError as exc:
            raise AssetUnavailable(
                f"the asset gateway is unreachable: {type(exc).__name__}"
            ) from exc
        if response.status_code != 200:
            raise AssetUnavailable(f"GET /manifest answered {response.status_code}")
        try:
            files = response.json()["files"]
        except (ValueError, KeyError, TypeError):
            raise AssetUnavailable("GET /manifest answered no manifest") from None
        if not isinstance(files, dict):
            raise AssetUnavailable("GET /manifest answered no manifest")
        return {str(path): str(sha) for path, sha in files.items()}

    async def _download(self, path: str, sha256: str) -> bytes:
        # By hash first: immutable, so exactly the bytes asked for or nothing.
        for url in (f"/by-hash/{sha256}", f"/data/{path}"):
            try:
                response = await self.gateway.get(url)
            except httpx.TransportError as exc:
                raise AssetUnavailable(
                    f"the asset gateway is unreachable: {type(exc).__name__}"
                ) from exc
            if response.status_code == 200:
                return response.content
            if response.status_code != 404:
                raise AssetUnavailable(f"GET {url} answered {response.status_code}")
        raise AssetUnavailable(f"the gateway serves neither {path} nor {sha256[:16]}...")

    def _store(self, sha256: str, data: bytes) -> Path:
        target = self.file_for(sha256)
        fd, tmp = tempfile.mkstemp(dir=self.root, prefix=".incoming-")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return target
