"""What the browser tests do to the fleet: a job, a node that posts results, better ones."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from keyforge_shared.protocol.headers import NODE_SECRET, NODE_TOKEN
from keyforge_shared.scoring import ScoringModel
from tests.devstack.ingress_support import Stack
from tests.hive.conftest import SYSTEM_ASSETS, registration
from tests.hive.jobs_support import job_spec, layout_keys, local_model, read_json

BOARD = "split_3x6_3"
TRIES = 400


@dataclass
class SeededJob:
    """A job on a real keyboard, and a registered node that reports results for it."""

    stack: Stack
    job_id: str
    node_id: str
    token: str | None  # hives without node identity answer none
    model: ScoringModel
    best: list[str]
    best_score: float
    movable: list[int]

    def _headers(self) -> dict[str, str]:
        headers = {NODE_SECRET: self.stack.secret()}
        if self.token:
            headers[NODE_TOKEN] = self.token
        return headers

    def post(self, keys: list[str]) -> dict[str, Any]:
        score = self.model.score(keys)
        body = {"job_id": self.job_id, "layout": " ".join(keys), "score": score}
        answer = self.stack.request(
            "POST",
            "api",
            "/results",
            json={**body, "node_id": self.node_id},
            headers=self._headers(),
        )
        assert answer.status_code == 200, answer.text
        result: dict[str, Any] = answer.json()
        if score < self.best_score:
            self.best, self.best_score = keys, score
        return result

    def catch_up(self) -> None:
        """Start from the hive's best: other nodes (a swarm) may have posted a better one."""
        job = self.stack.get("api", f"/jobs/{self.job_id}").json()
        if job["best_layout"] and job["best_score"] < self.best_score:
            self.best, self.best_score = job["best_layout"].split(), job["best_score"]

    def post_better(self, seed: int = 0) -> list[str]:
        """A layout scoring lower than the hive's best (two letters swapped), posted."""
        self.catch_up()
        rng = random.Random(seed)
        for _ in range(TRIES):
            keys = list(self.best)
            a, b = rng.sample(self.movable, 2)
            keys[a], keys[b] = keys[b], keys[a]
            if self.model.score(keys) < self.best_score - 1e-6:
                self.post(keys)
                return keys
        raise AssertionError(f"no better layout within {TRIES} swaps")


def seed_job(stack: Stack, node_id: str = "web-demo-1") -> SeededJob:
    """Creates the job through Apache, registers a node and posts the reference layout."""
    spec = job_spec(definition=read_json(SYSTEM_ASSETS / "keyboards" / f"{BOARD}.json"))
    created = stack.request(
        "POST", "api", "/jobs", json=spec, headers={NODE_SECRET: stack.secret()}
    )
    assert created.status_code == 200, created.text
    job_id = created.json()["job_id"]
    registered = stack.request(
        "POST",
        "api",
        "/nodes/register",
        json=registration(node_id),
        headers={NODE_SECRET: stack.secret()},
    )
    assert registered.status_code == 200, registered.text
    reference = layout_keys(SYSTEM_ASSETS, spec, next(iter(spec["definition"]["layouts"])))
    movable = [i for i, code in enumerate(reference) if len(code) == 4 and code[3].isalpha()]
    model = local_model(SYSTEM_ASSETS, spec)
    seeded = SeededJob(
        stack,
        job_id,
        node_id,
        registered.json().get("node_token"),
        model,
        reference,
        float("inf"),
        movable,
    )
    seeded.post(reference)
    return seeded
