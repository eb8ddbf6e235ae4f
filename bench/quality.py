"""Search quality over time: the compiled engine against the Python engine on a real stack.

    .venv/bin/python -m bench.quality [--baseline-s 300] [--compiled-s 90]

Starts a local fleet (``keyforge up --detach`` in a temporary data dir), and
for each case and engine creates a fresh job (the engine's name in the
definition's notes keeps the jobs, and so their populations, apart), runs two
real nodes (``--threads 1`` each, ``KEYFORGE_ENGINE`` choosing the engine)
and samples the job's best score every few seconds. Cases, with the original
KeyForge data beside the checkout (``../shared/keyforge-data``):

- ortho_30 with the original ``testing`` weights, every key free;
- corne with only the alpha keys free: every key whose keycode types no
  character or whitespace (modifiers, Enter, Space, Tab, Esc, Backspace,
  ``KC_TRNS``) pinned where QWERTY has it.

Prints, per case: each engine's best over time and final score, the time the
compiled engine needed to reach the Python engine's final score (target <=
30 s against a 5-minute baseline), and the best published layout of the same
alphabet from the keyboard's own ``layouts``, scored by the same model.
Lower is better. Prints numbers only; nothing here asserts.
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import json
import os
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from bench.scorer import DATA
from keyforge_node.engine import ENGINE_ENV
from keyforge_shared import formats
from keyforge_shared.scoring import build_model, load_corpus
from tests.node.node_support import (
    SYSTEM,
    LocalStack,
    best_score,
    create_job,
    local_stack,
    ortho_job,
    start_node,
)

SAMPLE_S = 5.0
WHITESPACE = frozenset(" \t\n")
ENGINES = ("python", "compiled")


def original(kind: str, name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((DATA / kind / f"{name}.json").read_text())
    return data


def alpha_pins(definition: dict[str, Any]) -> str:
    """``slot:keycode`` for every reference key that types no character, or whitespace."""
    keycodes = formats.parse_keycodes((SYSTEM / "keycodes.json").read_bytes())
    reference = next(iter(definition["layouts"].values())).split()
    pins = []
    for slot, name in enumerate(reference):
        canonical = keycodes.canonical(name) or name
        char = keycodes.char_of(canonical)
        if char is None or char in WHITESPACE:
            pins.append(f"{slot}:{canonical}")
    return ",".join(pins)


def cases() -> dict[str, dict[str, Any]]:
    ortho = ortho_job(
        definition=original("keyboards", "ortho_30"), weights=original("weights", "testing")
    )
    corne_definition = original("keyboards", "corne")
    corne = ortho_job(
        definition=corne_definition,
        weights=original("weights", "ortho_split"),
        pinned_keys=alpha_pins(corne_definition),
    )
    return {"ortho_30 testing": ortho, "corne alpha": corne}


def published_best(spec: dict[str, Any]) -> tuple[str, float] | None:
    """The best of the keyboard's own layouts with the job's alphabet and pins, same model."""
    keycodes = formats.parse_keycodes((SYSTEM / "keycodes.json").read_bytes())
    folder = SYSTEM / "corpora" / "default"
    corpus = load_corpus(*((folder / f"{n}grams.csv").read_bytes() for n in (1, 2, 3)))
    definition = formats.parse_definition(spec["definition"])
    matrix = formats.parse_cost_matrix((SYSTEM / spec["cost_matrix"]).read_bytes())
    model = build_model(definition, spec["weights"], corpus, keycodes, matrix)
    count = len(definition.geometry.keys)
    pins = formats.parse_pinned_keys(spec["pinned_keys"], keycodes, count)
    scored = []
    alphabet: Counter[str] | None = None
    for name, text in spec["definition"]["layouts"].items():
        try:
            layout = formats.parse_layout(text, keycodes, count)
        except formats.FormatError:
            continue
        alphabet = alphabet or Counter(layout)
        if Counter(layout) == alphabet and all(layout[s] == k for s, k in pins.items()):
            scored.append((model.score(layout), name))
    if not scored:
        return None
    score, name = min(scored)
    return name, score


async def run_engine(
    stack: LocalStack, spec: dict[str, Any], engine: str, seconds: float, work: Path
) -> list[tuple[float, float]]:
    """(seconds since the nodes started, job's best score) samples."""
    spec = copy.deepcopy(spec)
    spec["definition"]["meta"]["notes"] = f"bench.quality {engine} engine {time.time()}"
    os.environ[ENGINE_ENV] = "python" if engine == "python" else ""
    async with stack.hive() as client:
        job_id = await create_job(client, stack.node_headers, spec)
        targets = ["--stack", str(stack.data_dir), "--threads", "1"]
        nodes = [start_node(work / f"{engine}-{job_id[:8]}-{n}", *targets) for n in range(2)]
        samples: list[tuple[float, float]] = []
        started = time.monotonic()
        try:
            while (elapsed := time.monotonic() - started) < seconds:
                best = await best_score(client, job_id)
                if best is not None:
                    samples.append((elapsed, best))
                await asyncio.sleep(SAMPLE_S)
            best = await best_score(client, job_id)
            if best is not None:
                samples.append((time.monotonic() - started, best))
        finally:
            for node in nodes:
                node.stop()
            await client.post(f"/jobs/{job_id}/cancel", headers=stack.admin_headers)
    return samples


def reached(samples: list[tuple[float, float]], target: float) -> float | None:
    return next((t for t, score in samples if score <= target + 1e-9), None)


def curve(samples: list[tuple[float, float]]) -> str:
    marks = (15, 30, 60, 120, 300)
    points = []
    for mark in marks:
        seen = [score for t, score in samples if t <= mark]
        if seen and samples[-1][0] >= mark - SAMPLE_S:
            points.append(f"{mark}s {seen[-1]:.3f}")
    return ", ".join(points)


def warm_kernels(work: Path) -> None:
    """Compile the kernels once, into one cache every node of the run shares (numba reads
    ``NUMBA_CACHE_DIR`` on import, and the nodes inherit it), so no node's clock starts
    with a compile."""
    os.environ.setdefault("NUMBA_CACHE_DIR", str(work / "numba-cache"))
    from keyforge_node.engine.warm import warm  # noqa: PLC0415 - after the cache dir is set

    print(f"kernels {warm(SYSTEM)}", flush=True)


async def main_async(args: argparse.Namespace) -> None:
    work = Path(tempfile.mkdtemp(prefix="keyforge-bench-quality-"))
    warm_kernels(work)
    durations = {"python": args.baseline_s, "compiled": args.compiled_s}
    report = []
    for stack in local_stack(work / "stack"):
        for case, spec in cases().items():
            results = {}
            for engine in ENGINES:
                print(f"{case}: {engine} engine for {durations[engine]:.0f} s ...", flush=True)
                results[engine] = await run_engine(stack, spec, engine, durations[engine], work)
            report.append((case, spec, results))
    print(f"\nbest score over time, two nodes of one worker each (lower is better); logs in {work}")
    for case, spec, results in report:
        print(f"\n{case}")
        finals = {}
        for engine in ENGINES:
            samples = results[engine]
            finals[engine] = samples[-1][1] if samples else None
            print(f"  {engine:9} {curve(samples)}")
            print(f"  {engine:9} final {finals[engine]} after {durations[engine]:.0f} s")
        baseline = finals["python"]
        if baseline is not None:
            when = reached(results["compiled"], baseline)
            verdict = "never" if when is None else f"{when:.0f} s"
            print(
                f"  compiled reached the python {args.baseline_s:.0f}-s score in: {verdict}"
                f" (target <= 30 s)"
            )
        published = published_best(spec)
        if published:
            print(f"  best published layout: {published[0]} {published[1]:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline-s", type=float, default=300.0)
    parser.add_argument("--compiled-s", type=float, default=90.0)
    args = parser.parse_args()
    if not DATA.is_dir():
        raise SystemExit(f"original KeyForge data not found at {DATA.resolve()}")
    asyncio.run(main_async(args))


if __name__ == "__main__":
    main()
