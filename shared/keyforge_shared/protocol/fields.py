"""Field types several planes share: node ids, and text Postgres can store.

Text Postgres cannot store (a NUL character, a lone surrogate: legal in
JSON, not in UTF-8) is refused as bad input (422) by the schema, before it
reaches the database, which would fail on it with an error the client
cannot act on.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

# The one storable-text check (also used outside the wire models), re-exported here.
from keyforge_shared.strict_input import StorableText as StorableText  # noqa: PLC0414
from keyforge_shared.strict_input import storable_text as storable_text  # noqa: PLC0414

NODE_ID_PATTERN = r"^[A-Za-z0-9._:-]+$"
NodeId = Annotated[str, Field(min_length=1, max_length=128, pattern=NODE_ID_PATTERN)]
