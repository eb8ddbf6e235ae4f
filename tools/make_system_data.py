"""Write the authored part of ``data/system``: keyboards, keycodes, weights, cost matrices.

    .venv/bin/python -m tools.make_system_data [--out data/system]

Deterministic: running it again rewrites identical files. The corpus comes
from ``tools/make_corpus.py`` (it needs the ``authoring`` extra). Sources:
``system_boards`` (geometry and layouts), ``system_keycodes`` (QMK ids),
``system_costs`` (the timing model behind the cost matrices).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from tools.system_boards import BOARDS, ansi_alpha
from tools.system_costs import cost_matrix_csv
from tools.system_keycodes import keycode_entries

REPO = Path(__file__).resolve().parents[1]

# Scoring weights under the original's field names, values chosen for this
# project: a balanced default, and variants that penalise what each board
# makes hard (lateral stretches on row stagger, pinky work on small splits).
BASE_WEIGHTS: dict[str, Any] = {
    "penalty_sfb_base": 380.0,
    "penalty_sfb_lateral": 60.0,
    "penalty_sfb_lateral_weak": 220.0,
    "penalty_sfb_diagonal": 220.0,
    "penalty_sfb_long": 260.0,
    "penalty_sfb_bottom": 40.0,
    "penalty_sfb_outward_adder": 12.0,
    "weight_weak_finger_sfb": 2.5,
    "penalty_sfr_weak_finger": 18.0,
    "penalty_sfr_bad_row": 22.0,
    "penalty_sfr_lat": 35.0,
    "penalty_scissor": 30.0,
    "penalty_lateral": 45.0,
    "penalty_ring_pinky": 1.25,
    "penalty_monogram_stretch": 18.0,
    "penalty_redirect": 60.0,
    "penalty_skip": 18.0,
    "penalty_hand_run": 4.0,
    "bonus_inward_roll": 35.0,
    "bonus_bigram_roll_in": 30.0,
    "bonus_bigram_roll_out": 20.0,
    "penalty_high_in_med": 10.0,
    "penalty_high_in_low": 18.0,
    "penalty_med_in_prime": 2.0,
    "penalty_med_in_low": 3.0,
    "penalty_low_in_prime": 12.0,
    "penalty_low_in_med": 2.0,
    "penalty_imbalance": 180.0,
    "max_hand_imbalance": 0.56,
    "weight_vertical_travel": 1.0,
    "weight_lateral_travel": 3.0,
    "weight_finger_effort": 2.0,
    "corpus_scale": 200000000.0,
    "default_cost_ms": 120.0,
    "finger_penalty_scale": "0.0,1.0,1.05,1.25,1.5",
    "comfortable_scissors": "21,23,34",
    "loader_trigram_limit": 5000,
    "threshold_sfb_long_row_diff": 2,
    "threshold_scissor_row_diff": 2,
}
WEIGHT_VARIANTS: dict[str, dict[str, Any]] = {
    "default": {},
    "row_stagger": {
        "penalty_lateral": 60.0,
        "penalty_scissor": 35.0,
        "weight_lateral_travel": 3.5,
    },
    "split": {
        "penalty_ring_pinky": 1.4,
        "finger_penalty_scale": "0.0,1.0,1.05,1.3,1.7",
        "penalty_monogram_stretch": 24.0,
    },
}


def dump_json(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False) + "\n"


def system_files() -> dict[str, str]:
    """Relative path -> text, for every authored file."""
    files: dict[str, str] = {"keycodes.json": dump_json(keycode_entries())}
    for name, build in BOARDS.items():
        files[f"keyboards/{name}.json"] = dump_json(build())
    for name, overrides in WEIGHT_VARIANTS.items():
        files[f"weights/{name}.json"] = dump_json({**BASE_WEIGHTS, **overrides})
    # The default matrix covers the 30 alpha keys on ANSI row stagger, as the
    # original's does; the others cover every key of their own board.
    files["cost_matrix.csv"] = cost_matrix_csv(ansi_alpha())
    files["cost_matrix_ortho_30.csv"] = cost_matrix_csv(BOARDS["ortho_30"]())
    files["cost_matrix_split_3x6_3.csv"] = cost_matrix_csv(BOARDS["split_3x6_3"]())
    return files


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "data" / "system")
    args = parser.parse_args()
    for rel, text in system_files().items():
        target = args.out / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
        print(f"wrote {target}")


if __name__ == "__main__":
    main()
