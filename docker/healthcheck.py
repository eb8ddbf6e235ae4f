"""Container healthcheck for the distroless images (no shell, no curl): exit 0 on HTTP 200.

    python3 /app/healthcheck.py http://127.0.0.1:3000/health

Standard library only, so it runs before anything else is importable.
"""

from __future__ import annotations

import sys
import urllib.error
import urllib.request

TIMEOUT_S = 3.0


def healthy(url: str) -> bool:
    if not url.startswith(("http://127.0.0.1:", "http://localhost:")):
        raise SystemExit(f"healthcheck: only a loopback http URL is checked, not {url!r}")
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_S) as response:  # noqa: S310
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def main() -> None:
    if len(sys.argv) != 2:
        raise SystemExit("usage: healthcheck.py URL")
    raise SystemExit(0 if healthy(sys.argv[1]) else 1)


if __name__ == "__main__":
    main()
