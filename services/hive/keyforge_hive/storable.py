"""Text Postgres can store: no NUL character, no lone surrogate (legal in JSON, not UTF-8).

Refused as bad input (422) before it reaches the database, which would fail
on it with an error the client cannot act on.
"""

from __future__ import annotations

from pydantic import AfterValidator


def storable_text(value: str) -> str:
    """``value`` unchanged, or ValueError saying why Postgres could not hold it."""
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode text (no lone surrogates)") from None
    return value


StorableText = AfterValidator(storable_text)
