"""Per-job scorers, built once off the event loop, bounded, and rebuilt when assets change.

Every lookup reads the manifest entries of the job's five asset paths (one
``HMGET``) and compares their sha256s with the ones the cached scorer was
built from: a republished corpus or cost matrix is picked up by the very next
request, with no invalidation message to lose. Concurrent misses for one job
share one build. Parsed assets are cached by content hash too, so jobs on one
corpus parse it once.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, cast

from redis.asyncio import Redis

from keyforge_shared.asset_store import AssetMissing, ManifestEntry, read_blob
from keyforge_shared.errors import DependencyDown, KeyforgeError
from keyforge_shared.formats import parse_cost_matrix, parse_keycodes
from keyforge_shared.job_scorer import JobInputs, JobScorer, build_job_scorer, job_inputs
from keyforge_shared.keys import Keys
from keyforge_shared.scoring import load_corpus

log = logging.getLogger(__name__)

SCORERS = 64
# Scorers are evicted, least recently used first, past this many bytes of tables:
# 150 boards of 30 keys, or 20 of 104 keys.
SCORER_BYTES = 224 * 1024 * 1024
PARSED_ASSETS = 16
SPECS = 1024


class AssetsUnavailable(LookupError):
    """Some asset a job scores with is not (or no longer) in the manifest.

    ``recovering``: the manifest's epoch is gone too, so Valkey lost its data
    and the asset manager is re-hydrating it. The path is then most likely
    fine and the answer is "come back shortly", not "no such asset".
    """

    def __init__(self, paths: list[str], *, recovering: bool = False) -> None:
        super().__init__(", ".join(paths))
        self.paths = paths
        self.recovering = recovering


# The asset manager re-hydrates within a second or two of noticing the loss.
RECOVERING_RETRY_AFTER_S = 2


def assets_recovering(exc: AssetsUnavailable) -> KeyforgeError | None:
    """The 503 for a manifest that is being re-hydrated; None when the assets are really missing."""
    if not exc.recovering:
        return None
    return DependencyDown(
        "the asset manifest is being restored after a data loss, retry shortly",
        code="assets_recovering",
        retry_after_s=RECOVERING_RETRY_AFTER_S,
    )


async def resolve_assets(valkey: Redis, keys: Keys, paths: tuple[str, ...]) -> dict[str, str]:
    """path -> sha256 the manifest serves now; AssetsUnavailable names what is missing."""
    raw = cast(list[bytes | None], await valkey.hmget(keys.asset_manifest(), list(paths)))
    missing = [p for p, value in zip(paths, raw, strict=True) if value is None]
    if missing:
        # A second round trip only on a miss: the common path stays one HMGET.
        recovering = not await valkey.exists(keys.asset_epoch())
        raise AssetsUnavailable(missing, recovering=recovering)
    return {p: ManifestEntry.from_json(v).sha256 for p, v in zip(paths, raw, strict=True) if v}


class _Lru(OrderedDict[Any, Any]):
    """Least recently used first out, past ``limit`` entries or ``budget`` weighed bytes."""

    def __init__(
        self, limit: int, budget: int = 0, weigh: Callable[[Any], int] = lambda _: 0
    ) -> None:
        super().__init__()
        self.limit, self.budget, self.weigh = limit, budget, weigh
        self.weight = 0

    def take(self, key: Any) -> Any:
        value = self.get(key)
        if value is not None:
            self.move_to_end(key)
        return value

    def put(self, key: Any, value: Any) -> None:
        if key in self:
            self.weight -= self.weigh(self.pop(key))
        self[key] = value
        self.weight += self.weigh(value)
        while len(self) > 1 and (
            len(self) > self.limit or (self.budget and self.weight > self.budget)
        ):
            self.weight -= self.weigh(self.popitem(last=False)[1])


def _scorer_lru() -> _Lru:
    return _Lru(SCORERS, SCORER_BYTES, lambda scorer: int(scorer.size_bytes))


SpecLoader = Callable[[], Awaitable[str]]


@dataclass
class ScorerCache:
    valkey: Redis
    keys: Keys
    hits: int = 0
    builds: int = 0
    _scorers: _Lru = field(default_factory=_scorer_lru)
    _inputs: _Lru = field(default_factory=lambda: _Lru(SPECS))
    _parsed: _Lru = field(default_factory=lambda: _Lru(PARSED_ASSETS))
    _building: dict[tuple[str, ...], asyncio.Task[JobScorer]] = field(default_factory=dict)

    async def inputs_for(self, job_id: str, load_spec: SpecLoader) -> JobInputs:
        inputs: JobInputs | None = self._inputs.take(job_id)
        if inputs is None:
            inputs = job_inputs(json.loads(await load_spec()))
            self._inputs.put(job_id, inputs)
        return inputs

    async def scorer_for(self, job_id: str, load_spec: SpecLoader) -> JobScorer:
        """The job's scorer for the assets published now (AssetsUnavailable, FormatError)."""
        inputs = await self.inputs_for(job_id, load_spec)
        cached: JobScorer | None = self._scorers.get(job_id)
        try:
            assets = await resolve_assets(self.valkey, self.keys, inputs.asset_paths)
        except AssetsUnavailable:
            if cached is None:
                raise
            # Unpublished since: keep verifying with what the job was scored with so far.
            return cached
        if cached is not None and cached.assets == assets:
            self._scorers.move_to_end(job_id)
            self.hits += 1
            return cached
        return await self.prepare(job_id, inputs, assets)

    async def prepare(self, job_id: str, inputs: JobInputs, assets: Mapping[str, str]) -> JobScorer:
        """Build (or join the build of) the scorer for ``assets`` and cache it."""
        self._inputs.put(job_id, inputs)
        key = (job_id, *(assets[p] for p in inputs.asset_paths))
        task = self._building.get(key)
        if task is None:
            task = asyncio.create_task(self._build(job_id, inputs, dict(assets)))
            self._building[key] = task
            task.add_done_callback(lambda _: self._building.pop(key, None))
        # Shielded: a caller that gives up does not cancel the build the others wait for.
        return await asyncio.shield(task)

    async def _build(self, job_id: str, inputs: JobInputs, assets: dict[str, str]) -> JobScorer:
        corpus_shas = tuple(assets[p] for p in inputs.corpus_paths)
        corpus = await self._parsed_asset(("corpus", *corpus_shas), load_corpus)
        matrix = await self._parsed_asset(
            ("matrix", assets[inputs.cost_matrix_path]), parse_cost_matrix
        )
        keycodes = await self._parsed_asset(
            ("keycodes", assets[inputs.asset_paths[-1]]), parse_keycodes
        )
        scorer = await asyncio.to_thread(build_job_scorer, inputs, corpus, matrix, keycodes, assets)
        self.builds += 1
        self._scorers.put(job_id, scorer)
        return scorer

    async def _parsed_asset(self, key: tuple[str, ...], parse: Callable[..., Any]) -> Any:
        value = self._parsed.take(key)
        if value is None:
            try:
                blobs = [await read_blob(self.valkey, self.keys, sha) for sha in key[1:]]
            except AssetMissing as exc:
                recovering = not await self.valkey.exists(self.keys.asset_epoch())
                raise AssetsUnavailable([str(exc)], recovering=recovering) from None
            value = await asyncio.to_thread(parse, *blobs)
            self._parsed.put(key, value)
        return value

    @property
    def cached_bytes(self) -> int:
        return int(self._scorers.weight)
