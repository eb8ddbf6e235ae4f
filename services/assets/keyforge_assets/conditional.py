"""HTTP validators and ranges (RFC 9110 sections 13 and 14), for one strong ETag."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from keyforge_shared.strict_input import parse_uint

MAX_RANGE_HEADER = 200


@dataclass(frozen=True, slots=True)
class ByteRange:
    start: int
    end: int  # inclusive

    @property
    def length(self) -> int:
        return self.end - self.start + 1


UNSATISFIABLE: Final = ByteRange(-1, -2)


def etag_matches(if_none_match: str, etag: str) -> bool:
    """Weak comparison, as ``If-None-Match`` requires: ``W/"x"`` matches ``"x"``."""
    for candidate in if_none_match.split(","):
        tag = candidate.strip()
        if tag == "*":
            return True
        tag = tag.removeprefix("W/")
        if tag == etag:
            return True
    return False


def requested_range(header: str, size: int) -> ByteRange | None:
    """The one range asked for, UNSATISFIABLE, or None to send the whole content.

    Several ranges, or a header we cannot parse, are answered with the whole
    content, which the RFC allows a server to do for any Range request.
    """
    bounds = _single_range(header)
    if bounds is None:
        return None
    first, last = bounds
    if first is None:
        assert last is not None
        if last == 0 or size == 0:
            return UNSATISFIABLE
        return ByteRange(max(size - last, 0), size - 1)
    if last is not None and last < first:
        return None  # syntactically invalid: ignore the header
    if first >= size:
        return UNSATISFIABLE
    end = size - 1 if last is None else last
    return ByteRange(first, min(end, size - 1))


def _single_range(header: str) -> tuple[int | None, int | None] | None:
    """``bytes=first-last`` with either bound optional (not both), or None."""
    if len(header) > MAX_RANGE_HEADER:
        return None
    unit, _, spec = header.partition("=")
    first, dash, last = spec.strip().partition("-")
    if unit.strip().lower() != "bytes" or not dash or not (first or last):
        return None
    start = parse_uint(first) if first else None
    end = parse_uint(last) if last else None
    if (first and start is None) or (last and end is None):
        return None  # also refuses a second range: "," is not a digit
    return start, end
