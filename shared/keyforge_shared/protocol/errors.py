"""The contract's error envelope as a model: what every 4xx/5xx answer's body is."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class ErrorBody(BaseModel):
    """``{"error": "<machine_code>", "detail": "<human text>"}`` plus optional extras
    (``expected_score`` on ``score_mismatch``, ``checks`` on a failed health check)."""

    model_config = ConfigDict(extra="allow")

    error: str
    detail: str
