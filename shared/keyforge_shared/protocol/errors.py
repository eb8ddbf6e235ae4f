"""The contract's error envelope as a model: what every 4xx/5xx answer's body is.

``error_responses`` is what a route declares as its ``responses=``, so the
OpenAPI document describes its error answers with this model.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict


class ErrorBody(BaseModel):
    """``{"error": "<machine_code>", "detail": "<human text>"}`` plus optional extras
    (``expected_score`` on ``score_mismatch``, ``checks`` on a failed health check)."""

    model_config = ConfigDict(extra="allow")

    error: str
    detail: str

    def extra_value(self, name: str) -> Any:
        """One of the optional extra fields, None when the answer has none."""
        return (self.model_extra or {}).get(name)


class ValidationErrorBody(ErrorBody):
    """The 422 envelope: ``detail`` summarises, ``fields`` names every invalid field."""

    fields: list[str] = []


# The contract's meaning of each error status (CONTRACT.md, Errors).
ERROR_STATUSES: dict[int, str] = {
    400: "bad input the schema cannot express",
    401: "missing or wrong secret",
    403: "right secret, wrong role",
    404: "unknown thing",
    409: "conflict",
    413: "body too large",
    415: "not JSON",
    422: "schema validation",
    429: "rate limited (Retry-After)",
    503: "a dependency is down or still recovering (Retry-After)",
}


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The ``responses=`` of a route that answers ``statuses`` in the error envelope."""
    return {
        status: {
            "model": ValidationErrorBody if status == 422 else ErrorBody,
            "description": ERROR_STATUSES[status],
        }
        for status in statuses
    }
