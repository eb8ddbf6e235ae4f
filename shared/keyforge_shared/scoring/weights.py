"""Scoring weights under the original KeyForge field names.

Every field is optional, as in the original: a missing field takes the value
that the original's shipped weights files (``ortho_split``, ``row_stagger``,
``testing``) agree on, so an empty object scores like those files do. The one
field they disagree on, ``loader_trigram_limit`` (20 000 vs 3 000), defaults to
the original engine's own 3 000: it bounds the per-swap work of the optimizer
and the top 3 000 trigrams of the default corpus carry almost all of its
trigram frequency. Unknown fields are ignored so newer clients' files load.

Numbers must be finite. The two comma-separated strings keep their original
text form (a job spec round-trips exactly) and are validated here; the
scorer reads them through ``finger_scales`` and ``comfortable_scissor_pairs``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
)

from keyforge_shared.formats import FormatError

Finite = Annotated[float, Field(allow_inf_nan=False, ge=-1e9, le=1e9)]
FINGERS = 5  # thumb, index, middle, ring, pinky: the original's finger numbers 0..4


class Weights(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    # Same-key repeats ("same finger repeat", SFR).
    penalty_sfr_weak_finger: Finite = 20.0
    penalty_sfr_bad_row: Finite = 25.0
    penalty_sfr_lat: Finite = 40.0
    # Same-finger bigrams on two different keys (SFB), by kind of motion.
    penalty_sfb_lateral: Finite = 65.0
    penalty_sfb_lateral_weak: Finite = 250.0
    penalty_sfb_base: Finite = 400.0
    penalty_sfb_outward_adder: Finite = 10.0
    penalty_sfb_diagonal: Finite = 240.0
    penalty_sfb_long: Finite = 280.0
    penalty_sfb_bottom: Finite = 45.0
    weight_weak_finger_sfb: Finite = 2.7
    # Other same-hand bigrams and trigram flow.
    penalty_scissor: Finite = 25.0
    penalty_ring_pinky: Finite = 1.3
    penalty_lateral: Finite = 50.0
    penalty_monogram_stretch: Finite = 20.0
    penalty_skip: Finite = 20.0
    penalty_redirect: Finite = 65.0
    penalty_hand_run: Finite = 5.0
    bonus_inward_roll: Finite = 40.0
    bonus_bigram_roll_in: Finite = 35.0
    bonus_bigram_roll_out: Finite = 25.0
    # Character tier (by frequency rank) against slot tier (prime/med/low).
    penalty_high_in_med: Finite = 12.0
    penalty_high_in_low: Finite = 20.0
    penalty_med_in_prime: Finite = 2.0
    penalty_med_in_low: Finite = 2.0
    penalty_low_in_prime: Finite = 15.0
    penalty_low_in_med: Finite = 2.0
    # Hand balance: the busier hand may carry this share before it costs.
    penalty_imbalance: Finite = 200.0
    max_hand_imbalance: Annotated[float, Field(allow_inf_nan=False, ge=0.5, le=1.0)] = 0.55
    # Geometry and effort.
    weight_vertical_travel: Annotated[float, Field(allow_inf_nan=False, ge=0, le=1e6)] = 1.0
    weight_lateral_travel: Annotated[float, Field(allow_inf_nan=False, ge=0, le=1e6)] = 3.5
    weight_finger_effort: Finite = 2.2
    # Raw corpus counts are divided by this, as in the original: scores keep
    # the original's magnitude (millions), so the contract's absolute 5.0
    # score tolerance stays a tight check.
    corpus_scale: Annotated[float, Field(allow_inf_nan=False, gt=0, le=1e18)] = 200_000_000.0
    default_cost_ms: Annotated[float, Field(allow_inf_nan=False, ge=0, le=1e6)] = 120.0
    # 0 keeps every trigram.
    loader_trigram_limit: Annotated[int, Field(ge=0, le=10_000_000)] = 3000
    threshold_sfb_long_row_diff: Annotated[int, Field(ge=1, le=32)] = 2
    threshold_scissor_row_diff: Annotated[int, Field(ge=1, le=32)] = 2
    finger_penalty_scale: Annotated[str, Field(max_length=200)] = "0.0,1.0,1.1,1.3,1.6"
    comfortable_scissors: Annotated[str, Field(max_length=200)] = "21,23,34"

    @field_validator("finger_penalty_scale", "comfortable_scissors", mode="before")
    @classmethod
    def _list_text(cls, value: Any, info: ValidationInfo) -> Any:
        """Comma-separated text (a JSON list is joined into it), parsed now to refuse it early."""
        if isinstance(value, list | tuple):
            value = ",".join(str(v) for v in value)
        if isinstance(value, str):
            _LIST_PARSERS[info.field_name or ""](value)
        return value

    @property
    def finger_scales(self) -> tuple[float, ...]:
        """Effort multiplier per finger, thumb first."""
        return parse_finger_scales(self.finger_penalty_scale)

    @property
    def comfortable_scissor_pairs(self) -> frozenset[tuple[int, int]]:
        """(finger on the upper key, finger on the lower key) pairs that are no scissor."""
        return parse_scissor_pairs(self.comfortable_scissors)


def parse_finger_scales(text: str) -> tuple[float, ...]:
    parts = [p.strip() for p in text.split(",")]
    if len(parts) != FINGERS:
        raise ValueError(f"finger_penalty_scale needs {FINGERS} numbers, found {len(parts)}")
    scales = []
    for part in parts:
        try:
            value = float(part)
        except ValueError:
            raise ValueError(f"finger_penalty_scale: {part!r} is not a number") from None
        if not -1e9 <= value <= 1e9:  # also refuses nan and inf
            raise ValueError(f"finger_penalty_scale: {part!r} is not a finite number")
        scales.append(value)
    return tuple(scales)


def parse_scissor_pairs(text: str) -> frozenset[tuple[int, int]]:
    """``"21,23,34"``: two finger digits each, upper-key finger first (the original's form)."""
    pairs = set()
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        if len(part) != 2 or any(d not in "01234" for d in part):
            raise ValueError(f"comfortable_scissors: {part!r} is not two finger digits 0-4")
        pairs.add((int(part[0]), int(part[1])))
    return frozenset(pairs)


_LIST_PARSERS: dict[str, Callable[[str], object]] = {
    "finger_penalty_scale": parse_finger_scales,
    "comfortable_scissors": parse_scissor_pairs,
}


def parse_weights(data: Any) -> Weights:
    """A weights object from decoded JSON; FormatError names the first bad field."""
    try:
        return Weights.model_validate(data)
    except ValidationError as exc:
        err = exc.errors(include_input=False, include_url=False)[0]
        where = ".".join(str(p) for p in err["loc"])
        raise FormatError(f"weights: {where}: {err['msg']}" if where else err["msg"]) from None
