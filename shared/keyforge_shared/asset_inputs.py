"""Scoring inputs loaded from the asset store, never from disk.

A job names a corpus (``corpora/<name>/``) and a cost matrix (a top-level
file); the hive resolves both against the manifest and parses them with the
shared formats, so what it verifies results with is exactly what the asset
gateway serves.
"""

from __future__ import annotations

from redis.asyncio import Redis

from keyforge_shared.asset_store import AssetMissing, read_asset
from keyforge_shared.formats import (
    CostEntry,
    KeycodeTable,
    parse_cost_matrix,
    parse_keycodes,
)
from keyforge_shared.job_scorer import (
    KEYCODES_PATH,
    corpus_paths,
    cost_matrix_path,
    job_asset_paths,
)
from keyforge_shared.keys import Keys
from keyforge_shared.protocol.jobs import DEFAULT_COST_MATRIX
from keyforge_shared.scoring.corpus import Corpus
from keyforge_shared.scoring.corpus import load_corpus as corpus_from_bytes


async def load_corpus(valkey: Redis, keys: Keys, name: str) -> Corpus:
    """AssetMissing when the corpus is not published, FormatError when it does not parse."""
    one, two, three = corpus_paths(name)
    return corpus_from_bytes(
        await read_asset(valkey, keys, one),
        await read_asset(valkey, keys, two),
        await read_asset(valkey, keys, three),
    )


async def load_cost_matrix(
    valkey: Redis, keys: Keys, name: str = DEFAULT_COST_MATRIX
) -> list[CostEntry]:
    return parse_cost_matrix(await read_asset(valkey, keys, cost_matrix_path(name)))


async def load_keycodes(valkey: Redis, keys: Keys) -> KeycodeTable:
    return parse_keycodes(await read_asset(valkey, keys, KEYCODES_PATH))


__all__ = [
    "AssetMissing",
    "Corpus",
    "corpus_paths",
    "cost_matrix_path",
    "job_asset_paths",
    "load_corpus",
    "load_cost_matrix",
    "load_keycodes",
]
