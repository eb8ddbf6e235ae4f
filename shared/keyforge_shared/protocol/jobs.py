"""The job plane: job specs, the public views, leases, population, results, scores, submissions."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from keyforge_shared.formats import KeyboardDefinition
from keyforge_shared.protocol.fields import NodeId, StorableText

# The contract's default cost matrix file (CONTRACT.md, POST /jobs).
DEFAULT_COST_MATRIX = "cost_matrix.csv"

Count = Annotated[int, Field(ge=0, le=1_000_000_000)]
FiniteParam = Annotated[float, Field(allow_inf_nan=False, ge=0, le=1e12)]
AssetName = Annotated[str, Field(min_length=1, max_length=255)]
JobId = Annotated[str, Field(min_length=1, max_length=200)]
LayoutText = Annotated[str, Field(min_length=1, max_length=5000)]
JobStatus = Literal["active", "paused", "done", "cancelled"]


class SearchParams(BaseModel):
    """The original's eight optimizer parameters (newer clients' extra ones are kept)."""

    model_config = ConfigDict(extra="allow", frozen=True)

    search_epochs: Count
    search_steps: Count
    search_patience: Count
    search_patience_threshold: FiniteParam
    temp_min: FiniteParam
    temp_max: FiniteParam
    opt_limit_fast: Count
    opt_limit_slow: Count


class JobSpec(BaseModel):
    """The schema of ``POST /jobs``; weights are checked by the scorer's own parser."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    definition: KeyboardDefinition
    # Weights are the original's open object (unknown fields ignored, yet part of
    # the job's identity): the scorer's weights parser is their schema.
    weights: dict[str, Any]
    params: SearchParams
    pinned_keys: Annotated[str, Field(max_length=4000)] = ""
    corpus_name: AssetName
    cost_matrix: AssetName = DEFAULT_COST_MATRIX


class JobRegistered(BaseModel):
    job_id: str
    is_new: bool


class JobSummary(BaseModel):
    """One entry of ``GET /jobs``."""

    job_id: str
    status: JobStatus
    created_at: datetime
    best_score: float | None
    results: int
    keyboard_name: str | None


class JobView(BaseModel):
    """``GET /jobs/{job_id}``: the job, its best layout and that layout's metrics."""

    job_id: str
    status: JobStatus
    created_at: datetime
    updated_at: datetime
    keyboard: str
    keyboard_name: str | None
    slots: int
    results: int
    best_score: float | None
    best_layout: str | None
    metrics: dict[str, float] | None
    # The scoring model's id (its leaderboard), and what a client needs to draw and
    # explain the job; the weights stay out (long, and only the scorer reads them).
    model_id: str | None = None
    definition: dict[str, Any] | None = None
    pinned_keys: str = ""
    params: dict[str, Any] | None = None
    corpus_name: str | None = None
    cost_matrix: str | None = None


class LeaseAnswer(BaseModel):
    """``GET /jobs/queue``: a lease on one job slot, or every field null (nothing leasable)."""

    job_id: str | None = None
    # The job's spec exactly as it was submitted (the node builds its scorer from
    # it), so it is passed through as JSON rather than re-serialized through JobSpec.
    config: dict[str, Any] | None = None
    lease_id: str | None = None
    lease_expires_at: datetime | None = None
    slot: int | None = None
    attempt: int | None = None
    # Asset path -> sha256 the job was verified with (None: not published).
    assets: dict[str, str | None] | None = None

    @classmethod
    def nothing(cls) -> LeaseAnswer:
        """The contract's four fields, all null; answered with ``exclude_unset``, so a
        client sees exactly those (the lease-only fields appear with a lease)."""
        return cls(job_id=None, config=None, lease_id=None, lease_expires_at=None)


class Population(BaseModel):
    """``GET /jobs/{job_id}/population``: seed layouts, best first."""

    layouts: list[str]


class JobStatusChange(BaseModel):
    """``POST /jobs/{job_id}/pause|resume|cancel|complete``."""

    job_id: str
    status: JobStatus
    previous: JobStatus
    changed: bool


class ResultIn(BaseModel):
    """``POST /results``."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    job_id: JobId
    layout: LayoutText
    score: Annotated[float, Field(allow_inf_nan=False, ge=-1e15, le=1e15)]
    node_id: NodeId
    lease_id: Annotated[str, Field(max_length=64)] | None = None


class ResultAccepted(BaseModel):
    """200 only after the row is committed; ``score`` is the hive's own."""

    status: Literal["accepted"] = "accepted"
    score: float
    record: bool


class ScoreIn(BaseModel):
    """``POST /score``."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    job_id: JobId
    layout: LayoutText


class LayoutScore(BaseModel):
    """``POST /score``'s answer: the score and the analyzer metrics by name."""

    score: float
    metrics: dict[str, float]


class SubmissionIn(BaseModel):
    """``POST /submissions``: a community layout."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    name: Annotated[str, Field(min_length=2, max_length=64), StorableText]
    layout: Annotated[str, Field(min_length=10, max_length=5000), StorableText]
    author: Annotated[str, Field(max_length=64), StorableText] = ""


class SubmissionReceived(BaseModel):
    id: int
    status: Literal["received"] = "received"


class Submission(BaseModel):
    """One entry of ``GET /submissions``."""

    id: int
    name: str
    layout: str
    author: str
    status: str
    created_at: datetime
