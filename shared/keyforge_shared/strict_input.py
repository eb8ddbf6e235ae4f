"""Strict parsing for everything a client hands us as text: numbers and storable strings.

Python's ``str.isdigit()`` accepts superscripts and other Unicode digits that
``int()`` then rejects (``"²".isdigit()`` is true), and ``int()`` itself accepts
Arabic-Indic digits, underscores and surrounding blanks. Headers and compact
string formats (``Range``, ``If-Match``, ``Last-Event-ID``, ``lease_id``,
``pinned_keys`` slots, counts in asset files) are ASCII by specification, so
they are parsed here and nowhere else: one definition of "a number".

Postgres cannot store a NUL character (``text`` or ``jsonb``) nor a lone
surrogate (legal in JSON, not in UTF-8); either would fail at the database with
an error the client cannot act on, so such text is refused as bad input first.
"""

from __future__ import annotations

from typing import Any

from pydantic import AfterValidator

ASCII_DIGITS = frozenset("0123456789")
ASCII_DIGIT_BYTES = frozenset(b"0123456789")
# 18 digits always fit a signed 64-bit integer (Postgres bigint, Valkey integers);
# longer numbers are refused, not silently wrapped or allowed to overflow later.
MAX_DIGITS = 18


def parse_uint(text: str | bytes, *, max_digits: int = MAX_DIGITS) -> int | None:
    """``text`` as a non-negative integer if it is 1..``max_digits`` ASCII digits, else None.

    No sign, no blanks, no underscores, no Unicode digits: callers strip what
    their format allows around the number themselves.
    """
    if not 0 < len(text) <= max_digits:
        return None
    digits = ASCII_DIGIT_BYTES if isinstance(text, bytes) else ASCII_DIGITS
    if not all(c in digits for c in text):
        return None
    return int(text)


def storable_text(value: str) -> str:
    """``value`` unchanged, or ValueError saying why Postgres could not hold it."""
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode text (no lone surrogates)") from None
    return value


def storable_json(value: Any, *, where: str = "body") -> None:
    """Raises ValueError if any string (key or value) inside decoded JSON is not storable."""
    stack: list[tuple[str, Any]] = [(where, value)]
    while stack:
        path, item = stack.pop()
        if isinstance(item, str):
            try:
                storable_text(item)
            except ValueError as exc:
                raise ValueError(f"{path}: {exc}") from None
        elif isinstance(item, dict):
            for key, inner in item.items():
                try:
                    storable_text(key)
                except ValueError as exc:
                    raise ValueError(f"{path}: a key {exc}") from None
                stack.append((f"{path}.{key}", inner))
        elif isinstance(item, list):
            stack.extend((f"{path}[{i}]", inner) for i, inner in enumerate(item))


StorableText = AfterValidator(storable_text)
