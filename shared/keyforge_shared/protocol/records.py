"""Records across the fleet: a job's history, the leaderboards and the contributors.

``GET /jobs/{id}/history``, ``GET /leaderboard``, ``GET /leaderboard/{model_id}``
and ``GET /contributors``, as the hive answers them and the operator commands
read them.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

EXPORT_FORMATS = ("qmk-json", "qmk-c", "kle")


class _Answer(BaseModel):
    # Clients keep working when the hive adds a field.
    model_config = ConfigDict(extra="allow")


class HistoryPoint(_Answer):
    """One accepted result that set a new best for its job."""

    at: str
    score: float
    node_id: str


class ScoringModelInfo(_Answer):
    """What decides a score, summarised; ``model_id`` hashes all of it."""

    model_id: str
    keyboard_name: str
    key_count: int
    weights_sha256: str
    corpus: str
    corpus_sha256: str
    cost_matrix_sha256: str


class LeaderboardSummary(ScoringModelInfo):
    best_score: float | None
    best_layout: str | None
    jobs: int
    results: int


class LeaderboardEntry(_Answer):
    layout: str
    score: float
    metrics: dict[str, float] | None
    job_id: str
    node_id: str
    found_at: str


class Leaderboard(LeaderboardSummary):
    entries: list[LeaderboardEntry]


class Contributor(_Answer):
    node_id: str
    labels: dict[str, str]
    results: int
    records: int
    work_units: float
    first_seen: str | None
    last_seen: str | None
