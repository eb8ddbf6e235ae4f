"""Field types several planes share: node ids, and text Postgres can store.

Text Postgres cannot store (a NUL character, a lone surrogate: legal in
JSON, not in UTF-8) is refused as bad input (422) by the schema, before it
reaches the database, which would fail on it with an error the client
cannot act on.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, Field

NODE_ID_PATTERN = r"^[A-Za-z0-9._:-]+$"
NodeId = Annotated[str, Field(min_length=1, max_length=128, pattern=NODE_ID_PATTERN)]


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
