"""``GET /livez``, ``GET /health`` and ``GET /readyz`` answers (the hive's and the gateway's)."""

from __future__ import annotations

from pydantic import BaseModel


class Liveness(BaseModel):
    """``/livez`` and a ready ``/readyz``: ``{"status": "ok"}``."""

    status: str = "ok"


class Health(BaseModel):
    """``/health`` when every dependency answers; the 503 names the failing ones
    (``checks``, ``failing``) in the error envelope."""

    status: str
    checks: dict[str, str]
