"""The swarm's parts: its summary (the contract's JSON line) and its cheap job answers."""

from __future__ import annotations

import json
import stat
from pathlib import Path

from keyforge_swarm.report import Recorder, percentile
from keyforge_swarm.sim_node import reference_with_pins
from keyforge_swarm.tokens import load_tokens, save_tokens

REFERENCE = "KC_Q KC_W KC_E KC_R"


def test_the_summary_is_exactly_the_contract_line() -> None:
    recorder = Recorder()
    for ms in range(1, 101):
        recorder.record("heartbeat", "204", float(ms))
    recorder.record("lease", "503", 200.0)
    recorder.record("result", "0", 5.0, "ConnectionResetError")
    recorder.record("register", "401", 1.0)
    summary = recorder.summary()
    assert list(summary) == ["requests", "failed", "by_status", "p50_ms", "p99_ms"]
    assert summary["requests"] == 103
    assert summary["failed"] == 3  # 503, no answer, 401
    assert summary["by_status"] == {"0": 1, "204": 100, "401": 1, "503": 1}
    assert summary["p50_ms"] == 50.0
    assert summary["p99_ms"] == 100.0
    assert json.loads(json.dumps(summary)) == summary


def test_percentiles_are_nearest_rank() -> None:
    assert percentile([], 0.5) == 0.0
    assert percentile([7.0], 0.99) == 7.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 0.5) == 2.0
    assert percentile([float(n) for n in range(1, 1001)], 0.99) == 990.0


def test_the_reference_layout_gets_its_pins_or_the_job_is_skipped() -> None:
    def config(pins: str) -> dict[str, object]:
        return {"definition": {"layouts": {"First": REFERENCE, "Other": "x"}}, "pinned_keys": pins}

    assert reference_with_pins(config("")) == REFERENCE
    assert reference_with_pins(config("0:KC_E, 3:KC_W")) == "KC_E KC_R KC_Q KC_W"
    assert reference_with_pins(config("0:e")) is None  # the char form needs keycodes.json
    assert reference_with_pins(config("9:KC_Q")) is None
    assert reference_with_pins({"definition": {"layouts": {}}}) is None


def test_the_swarm_keeps_its_node_tokens_private_between_runs(tmp_path: Path) -> None:
    path = tmp_path / "swarm-tokens.json"
    assert load_tokens(path) == {}
    save_tokens(path, {"swarm-00000": ("swarm-00000:ab12", "tok")})
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_tokens(path) == {"swarm-00000": ("swarm-00000:ab12", "tok")}
    path.write_text("not json")
    assert load_tokens(path) == {}
