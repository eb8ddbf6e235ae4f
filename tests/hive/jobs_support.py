"""Plain factories and calls for the job tests: specs, registration, leases, results."""

from __future__ import annotations

import json
import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import Any

import httpx

from keyforge_shared import formats
from keyforge_shared.formats import KeycodeTable
from keyforge_shared.processes import spawn, stop_process, wait_for_port
from keyforge_shared.scoring import ScoringModel, build_model, load_corpus
from tests.conftest import ValkeyFixture
from tests.hive.conftest import (
    ADMIN_HEADERS,
    ORIGINAL_DATA,
    SYSTEM_ASSETS,
    member_headers,
    node_headers,
    register,
)
from tests.support import hive_process_env

PARAMS: dict[str, Any] = {
    "search_epochs": 5,
    "search_steps": 50,
    "search_patience": 5,
    "search_patience_threshold": 0.1,
    "temp_min": 0.1,
    "temp_max": 100.0,
    "opt_limit_fast": 100,
    "opt_limit_slow": 100,
}


def read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def original_keyboard(name: str) -> dict[str, Any]:
    data: dict[str, Any] = read_json(ORIGINAL_DATA / "keyboards" / f"{name}.json")
    return data


def original_weights(name: str) -> dict[str, Any]:
    data: dict[str, Any] = read_json(ORIGINAL_DATA / "weights" / f"{name}.json")
    return data


def job_spec(
    definition: dict[str, Any] | None = None, weights: dict[str, Any] | None = None, **fields: Any
) -> dict[str, Any]:
    """The original ``POST /jobs`` body; a small board from data/system unless told."""
    spec: dict[str, Any] = {
        "definition": definition or read_json(SYSTEM_ASSETS / "keyboards" / "ortho_30.json"),
        "weights": weights if weights is not None else {},
        "params": dict(PARAMS),
        "pinned_keys": "",
        "corpus_name": "default",
        "cost_matrix": "cost_matrix.csv",
    }
    spec.update(fields)
    return spec


async def create_job(
    client: httpx.AsyncClient, spec: dict[str, Any], as_node: str | None = None
) -> str:
    """Register a job as ``as_node`` (a registered node), or as the operator."""
    headers = node_headers(as_node) if as_node is not None else ADMIN_HEADERS
    response = await client.post("/jobs", json=spec, headers=headers)
    assert response.status_code == 200, response.text
    job_id: str = response.json()["job_id"]
    return job_id


async def lease(client: httpx.AsyncClient, node_id: str, wait: float = 0) -> dict[str, Any]:
    response = await client.get(
        "/jobs/queue", params={"node_id": node_id, "wait": wait}, headers=node_headers(node_id)
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def post_result(client: httpx.AsyncClient, **body: Any) -> httpx.Response:
    """Post a result as its node (registered first if it is not yet)."""
    body.setdefault("node_id", "node-1")
    headers = await member_headers(client, body["node_id"])
    return await client.post("/results", json=body, headers=headers)


async def ready_node(client: httpx.AsyncClient, node_id: str) -> None:
    await register(client, node_id)


@cache
def assets_model(root: Path, board_json: str, weights_json: str) -> ScoringModel:
    """The scorer the hive should build for a job, built here from the published files."""
    keycodes = formats.parse_keycodes((root / "keycodes.json").read_bytes())
    folder = root / "corpora" / "default"
    corpus = load_corpus(*((folder / f"{n}grams.csv").read_bytes() for n in (1, 2, 3)))
    matrix = formats.parse_cost_matrix((root / "cost_matrix.csv").read_bytes())
    definition = formats.parse_definition(json.loads(board_json))
    return build_model(definition, json.loads(weights_json), corpus, keycodes, matrix)


def local_model(root: Path, spec: dict[str, Any]) -> ScoringModel:
    return assets_model(root, json.dumps(spec["definition"]), json.dumps(spec["weights"]))


@cache
def keycodes_of(root: Path) -> KeycodeTable:
    return formats.parse_keycodes((root / "keycodes.json").read_bytes())


def layout_keys(root: Path, spec: dict[str, Any], name: str) -> list[str]:
    definition = spec["definition"]
    text = definition["layouts"][name]
    return formats.parse_layout(text, keycodes_of(root), len(definition["geometry"]["keys"]))


def start_hive_process(
    database_url: str, valkey: ValkeyFixture, log_file: Path, port: int
) -> subprocess.Popen[bytes]:
    """One real ``keyforge-hive`` on ``port`` (so a restart comes back at the same address)."""
    env = hive_process_env(database_url, valkey.url("hive"), port)
    process = spawn([sys.executable, "-m", "keyforge_hive"], env=env, log_file=log_file)
    try:
        wait_for_port(port, timeout_s=60, process=process)
    except BaseException:
        stop_process(process)
        raise
    return process
