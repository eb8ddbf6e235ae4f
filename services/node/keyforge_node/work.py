"""The work loop: lease a job slot, fetch what it needs, anneal until the lease is nearly up.

One lease at a time. Its assets come from the gateway by the hashes the
lease (or the manifest) names, verified; one annealing chain per worker
process starts from the job's population (the best layouts any node found,
so the fleet's searches feed each other), falling back to the reference
layout with its pins in place. After every round of batches the node's best
goes to the outbox, which sends it when it can. The contract has no renew
call: a node works a lease until shortly before it expires (hive clock, from
the answer's ``Date``), lets the submitter deliver, and polls for the next
one. It gives a lease up early when the hive refuses a result for it (stale
lease, closed job, a score it disagrees with), when the node stops or when
the hive's node config pauses it: then the running batch finishes (a batch
is capped at about a second) and its best is kept. A paused node asks for
no lease until its config says otherwise. When the config changes the number
of workers, the next round runs that many chains (the best ones kept).
"""

from __future__ import annotations

import asyncio
import logging
import random
from dataclasses import dataclass
from typing import Any

from keyforge_node.annealing import Chain, Schedule
from keyforge_node.asset_cache import AssetCache, AssetRefused, AssetUnavailable
from keyforge_node.heartbeat import WorkMeter
from keyforge_node.hive_client import (
    AuthRefused,
    HiveUnavailable,
    Lease,
    Refused,
    UnknownNode,
)
from keyforge_node.job_model import ModelRecipe, build_job_model
from keyforge_node.outbox import Outbox, Result
from keyforge_node.session import NodeSession
from keyforge_node.workers import WorkerPool
from keyforge_shared.client.backoff import Backoff, Stopped, pause, unless_stopping
from keyforge_shared.formats import FormatError
from keyforge_shared.job_scorer import JobScorer, spec_asset_paths

log = logging.getLogger(__name__)

DEFAULT_BATCH = 10_000
BATCH_MAX_S = 1.0  # a batch ends within about this long, so a stop is prompt
BATCH_MIN_S = 0.25  # and lasts at least this long: each batch ends with exact rescoring
SEEDS_PER_CHAIN = 16  # population layouts a fresh chain's replicas start from
MIN_BATCH = 500
LEASE_MARGIN_S = 15.0  # stop working this long before the lease ends (less on short leases)
POPULATION_REFRESH_S = 10.0
PAUSED_CHECK_S = 0.5
FAILED_ROUNDS_LIMIT = 3
JOB_CHECK_S = 15.0  # how often a worked job's status is checked (cancelled: give it up)
CLOSED_STATUSES = frozenset({"cancelled", "done", "gone"})


@dataclass
class LeaseRun:
    lease: Lease
    recipe: ModelRecipe
    job: JobScorer
    deadline: float  # event-loop time to stop working it
    lost: str | None = None  # why the lease was given up early
    failed_rounds: int = 0


class WorkLoop:
    def __init__(
        self,
        session: NodeSession,
        cache: AssetCache,
        *,
        pool: WorkerPool,
        outbox: Outbox,
        meter: WorkMeter,
        process_rate: float,
    ) -> None:
        self.session, self.cache, self.pool = session, cache, pool
        self.outbox, self.meter = outbox, meter
        self.process_rate = process_rate
        self.current: LeaseRun | None = None
        self._built: tuple[str, JobScorer] | None = None
        # (job id, when fetched, its valid layouts): the seeds of new chains.
        self._population: tuple[str, float, list[list[str]]] = ("", -1e9, [])
        self._refreshing: asyncio.Task[None] | None = None

    def current_job(self) -> str | None:
        return self.current.lease.job_id if self.current else None

    def lease_refused(self, result: Result, code: str) -> None:
        run = self.current
        if run is not None and run.lease.job_id == result.job_id:
            if code != "score_mismatch" and result.lease_id != run.lease.lease_id:
                return  # about an older lease of this job, not this one
            run.lost = code

    async def run(self) -> None:
        backoff = Backoff()
        stopping = self.session.stopping
        while not stopping.is_set():
            if self.session.config.paused:
                if await pause(stopping, PAUSED_CHECK_S):
                    return
                continue
            generation = self.session.generation
            try:
                poll = self.session.hive.lease(self.session.node_id)
                lease = await unless_stopping(stopping, poll)
            except Stopped:
                return
            except (UnknownNode, HiveUnavailable, AuthRefused) as exc:
                if await self.session.recover(exc, backoff, "leasing work", generation):
                    return
                continue
            except Refused as exc:
                log.warning("the hive refused a lease poll: %s", exc)
                if await pause(stopping, backoff.next_delay()):
                    return
                continue
            backoff.reset()
            if lease is None:
                continue
            try:
                self.current = await self._prepare(lease)
            except (AssetRefused, AssetUnavailable, FormatError, ValueError) as exc:
                log.warning("cannot work job %s: %s", lease.job_id[:12], exc)
                if await pause(stopping, backoff.next_delay()):
                    return
                continue
            try:
                await self._work(self.current)
            finally:
                self.current = None

    async def _prepare(self, lease: Lease) -> LeaseRun:
        paths = spec_asset_paths(lease.config)
        hashes = dict(lease.assets)
        if not all(hashes.get(p) for p in paths):
            hashes.update(await self.cache.manifest())
        files = []
        for path in paths:
            sha = hashes.get(path)
            if not sha:
                raise AssetUnavailable(f"{path} is not in the asset manifest")
            files.append((path, await self.cache.fetch(path, sha), sha))
        recipe = ModelRecipe.of(lease.config, files)
        if self._built is None or self._built[0] != recipe.key:
            self._built = (recipe.key, await asyncio.to_thread(build_job_model, recipe))
        remaining = (lease.expires_at - lease.hive_now).total_seconds()
        margin = min(LEASE_MARGIN_S, remaining / 10) + 1.0
        deadline = asyncio.get_running_loop().time() + max(remaining - margin, 1.0)
        log.info("leased job %s (lease %s, %.0fs)", lease.job_id[:12], lease.lease_id, remaining)
        return LeaseRun(lease, recipe, self._built[1], deadline)

    async def _fetch_population(self, run: LeaseRun) -> None:
        """The job's population as this job's valid layouts; kept as it was if unavailable."""
        try:
            texts = await self.session.hive.population(run.lease.job_id)
        except (UnknownNode, HiveUnavailable, AuthRefused, Refused) as exc:
            log.debug("population unavailable: %s", exc)
            texts = []
        valid = [v for v in map(run.job.valid_layout, texts) if v is not None]
        job_id, _, before = self._population
        kept = before if job_id == run.lease.job_id else []
        self._population = (run.lease.job_id, asyncio.get_running_loop().time(), valid or kept)

    def _seeds(self, run: LeaseRun) -> list[list[str]]:
        """Seeds for new chains, never waiting on the hive: the population as last fetched
        (a fresh fetch starts in the background when it is stale)."""
        job_id, fetched_at, layouts = self._population
        if job_id != run.lease.job_id:
            fetched_at, layouts = -1e9, []
        stale = asyncio.get_running_loop().time() - fetched_at >= POPULATION_REFRESH_S
        if stale and (self._refreshing is None or self._refreshing.done()):
            self._refreshing = asyncio.create_task(self._fetch_population(run))
        return layouts or [run.job.with_pins(run.job.reference)]

    def _batch_steps(self) -> int:
        tuning = self.session.tuning
        batch = tuning.batch_size if tuning else DEFAULT_BATCH
        shortest = int(self.process_rate * BATCH_MIN_S)
        return max(MIN_BATCH, shortest, min(batch, int(self.process_rate * BATCH_MAX_S)))

    async def _work(self, run: LeaseRun) -> None:
        loop = asyncio.get_running_loop()
        schedule = Schedule.from_params(run.lease.config.get("params") or {})
        await self._fetch_population(run)
        seeds = self._seeds(run)
        chains = [fresh_chain(seeds) for _ in range(self.pool.size)]
        stopping = self.session.stopping
        watch = asyncio.create_task(self._watch_job(run))
        try:
            while not stopping.is_set() and run.lost is None and loop.time() < run.deadline:
                if self.session.config.paused:
                    run.lost = "paused by the node config"
                    break
                chains = self._fit(run, chains)
                batches = [
                    self.pool.run_batch(run.recipe, c, schedule, self._batch_steps())
                    for c in chains
                ]
                outcomes = await asyncio.gather(*batches, return_exceptions=True)
                chains = self._advance(run, chains, outcomes, schedule)
        finally:
            watch.cancel()
            if self._refreshing is not None:
                self._refreshing.cancel()
        why = run.lost or ("stopping" if stopping.is_set() else "lease nearly over")
        log.info("done with job %s (%s)", run.lease.job_id[:12], why)

    def _fit(self, run: LeaseRun, chains: list[Chain]) -> list[Chain]:
        """One chain per worker: after a resize, keep the best chains or start new ones."""
        size = self.pool.size
        if len(chains) > size:
            return sorted(chains, key=lambda c: c.best_score)[:size]
        seeds = self._seeds(run)
        while len(chains) < size:
            seed = random.choice(seeds)  # noqa: S311 - search randomness
            chains.append(Chain(list(seed), seed=random.getrandbits(32)))
        return chains

    async def _watch_job(self, run: LeaseRun) -> None:
        """Give the lease up once the job is closed: results for it would be refused."""
        while run.lost is None:
            await asyncio.sleep(JOB_CHECK_S)
            try:
                status = await self.session.hive.job_status(run.lease.job_id)
            except (UnknownNode, HiveUnavailable, AuthRefused):
                continue
            except Refused:
                status = "gone"
            if status in CLOSED_STATUSES:
                run.lost = f"the job is {status}"

    def _advance(
        self, run: LeaseRun, chains: list[Chain], outcomes: list[Any], schedule: Schedule
    ) -> list[Chain]:
        advanced = []
        if all(isinstance(o, BaseException) for o in outcomes):
            run.failed_rounds += 1
            if run.failed_rounds >= FAILED_ROUNDS_LIMIT:
                run.lost = "batches keep failing"
        for chain, outcome in zip(chains, outcomes, strict=True):
            if isinstance(outcome, AssetRefused):
                run.lost = "asset refused"
                log.warning("asset refused by a worker: %s", outcome)
                advanced.append(chain)
            elif isinstance(outcome, BaseException):
                log.warning("a batch failed (%s); retrying it", type(outcome).__name__)
                advanced.append(chain)
            else:
                advanced.append(outcome[0])
                self.meter.add(outcome[1])
        best = min(advanced, key=lambda c: c.best_score)
        if best.best_layout and self.outbox.offer(
            Result(
                run.lease.job_id, run.lease.lease_id, " ".join(best.best_layout), best.best_score
            )
        ):
            log.debug("queued job %s score %.6f", run.lease.job_id[:12], best.best_score)
        for index, chain in enumerate(advanced):
            if chain.exhausted(schedule):
                advanced[index] = fresh_chain(self._seeds(run))
        return advanced


def fresh_chain(seeds: list[list[str]]) -> Chain:
    """A chain whose replicas start from different layouts of the job's population."""
    picked = random.sample(seeds, min(len(seeds), SEEDS_PER_CHAIN))
    return Chain(list(picked[0]), seed=random.getrandbits(32), replicas=[list(s) for s in picked])
