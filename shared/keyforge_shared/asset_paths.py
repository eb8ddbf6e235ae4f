"""Well-formed asset paths and hashes: the one rule the manager, gateway, hive and node share."""

from __future__ import annotations

import re
from typing import Final

MAX_PATH_LENGTH: Final = 1024
# One path segment: no leading dot (hidden files, "." and ".."), no separators,
# no percent signs or backslashes, nothing a filesystem or URL would reinterpret.
_SEGMENT = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._+-]{0,254}\Z")
_SHA256 = re.compile(r"[0-9a-f]{64}\Z")


def is_safe_asset_path(path: str) -> bool:
    """True for the relative, normalised paths assetmgr publishes and the gateway serves."""
    if not path or len(path) > MAX_PATH_LENGTH:
        return False
    return all(_SEGMENT.match(segment) for segment in path.split("/"))


def is_sha256(text: str) -> bool:
    return bool(_SHA256.match(text))
