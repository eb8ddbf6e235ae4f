"""A job spec (``protocol.jobs.JobSpec``, the original ``POST /jobs`` body) and its identity.

The spec is stored exactly as submitted (the ``json`` column keeps its text)
and hashed in a canonical form: the two documented defaults filled in
(``cost_matrix``, ``pinned_keys``), keys sorted, no whitespace, UTF-8. So two
bodies that differ only in formatting, key order or a spelled-out default are
one job. Parsing is strict where Python's ``json`` is lenient: ``NaN``,
``Infinity`` and numbers that overflow to them are refused anywhere in the
body (weights ignore unknown fields, but those are stored too), as are NUL
characters and lone surrogates, which Postgres cannot store.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from typing import Any

from keyforge_shared.formats import FormatError
from keyforge_shared.protocol.jobs import DEFAULT_COST_MATRIX
from keyforge_shared.strict_input import storable_json


def _refuse_constant(name: str) -> float:
    raise FormatError(f"{name} is not a finite number")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise FormatError(f"{text[:40]} is not a finite number")
    return value


# A dict: the spec is kept exactly as submitted (its schema is protocol.jobs.JobSpec,
# already checked by the route); its canonical form and id are computed from this value.
def parse_spec_text(raw: bytes) -> tuple[str, dict[str, Any]]:
    """The body as text (what is stored) and as a value; FormatError when it is not strict JSON."""
    try:
        text = raw.decode("utf-8")
        value = json.loads(text, parse_constant=_refuse_constant, parse_float=_finite_float)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise FormatError(f"body is not strict JSON: {type(exc).__name__}") from None
    if not isinstance(value, dict):
        raise FormatError("body must be a JSON object")
    try:
        storable_json(value, where="spec")
    except ValueError as exc:
        raise FormatError(str(exc)) from None
    return text, value


def canonical_form(spec: Mapping[str, Any]) -> bytes:
    """Sorted keys, no whitespace, UTF-8, with the documented defaults filled in."""
    filled = {"cost_matrix": DEFAULT_COST_MATRIX, "pinned_keys": "", **spec}
    return json.dumps(
        filled, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def job_id_of(spec: Mapping[str, Any]) -> str:
    return hashlib.sha256(canonical_form(spec)).hexdigest()


def geometry_fingerprint(spec: Mapping[str, Any]) -> str:
    """Jobs on one geometry (same keys, same slots) share population seeds."""
    geometry = spec["definition"]["geometry"]
    text = json.dumps(geometry, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
