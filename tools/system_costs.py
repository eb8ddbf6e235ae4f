"""A key-to-key timing model, so ``cost_matrix.csv`` is derived from geometry, not measured.

``Cost_MS`` estimates the milliseconds between pressing key a and key b:

* other hand (alternation): the next finger moves while this one presses,
  ``ALTERNATE_MS + 0.5 * move(b)``;
* same key again: ``REPEAT_MS * strength``;
* same finger, other key (a same-finger bigram): the finger must leave a and
  travel to b, ``(SAME_FINGER_MS + move(a -> b)) * strength``;
* same hand, other finger (a roll): ``(ROLL_MS + move(b) + ROW_JUMP_MS * rows)
  * strength``, minus ``INWARD_BONUS_MS`` when rolling towards the index.

``move`` is Fitts' law with a 1 u wide target, ``FITTS_MS_PER_BIT *
log2(1 + distance_u)``; a finger's distance is measured from its home key
(its non-stretch key on the home row; a thumb's middle key). ``strength``
slows the weaker fingers (ring 1.1, pinky 1.25). Constants are rounded from
typing studies' orders of magnitude (100-200 ms keystroke intervals, ~40 ms
per Fitts bit for finger pointing), not measured on a person:
``Confidence_Samples`` is 0 to say so.
"""

from __future__ import annotations

import math
from typing import Any

ALTERNATE_MS = 70.0
REPEAT_MS = 100.0
SAME_FINGER_MS = 130.0
ROLL_MS = 85.0
ROW_JUMP_MS = 12.0
INWARD_BONUS_MS = 6.0
FITTS_MS_PER_BIT = 40.0
STRENGTH = {0: 1.0, 1: 1.0, 2: 1.0, 3: 1.1, 4: 1.25}
HEADER = "From_Key,To_Key,Cost_MS,Confidence_Samples"

Key = dict[str, Any]


def move_ms(distance_u: float) -> float:
    return FITTS_MS_PER_BIT * math.log2(1.0 + distance_u)


def home_keys(keys: list[Key], home_row: int) -> dict[tuple[int, int], Key]:
    """(hand, finger) -> the key that finger rests on."""
    homes: dict[tuple[int, int], Key] = {}
    for k in keys:
        if k["row"] == home_row and not k.get("is_stretch") and k["finger"] != 0:
            homes.setdefault((k["hand"], k["finger"]), k)
    for hand in (0, 1):
        thumbs = [k for k in keys if k["hand"] == hand and k["finger"] == 0]
        thumbs.sort(key=lambda k: float(k["x"]))
        if thumbs:
            homes[(hand, 0)] = thumbs[len(thumbs) // 2]
    return homes


def distance(a: Key, b: Key) -> float:
    return math.hypot(float(a["x"]) - float(b["x"]), float(a["y"]) - float(b["y"]))


def pair_cost(a: Key, b: Key, homes: dict[tuple[int, int], Key]) -> float:
    home_b = homes.get((b["hand"], b["finger"]), b)
    reach_b = move_ms(distance(home_b, b))
    strength = STRENGTH[b["finger"]]
    if a["hand"] != b["hand"]:
        return ALTERNATE_MS + 0.5 * reach_b
    if a is b:
        return REPEAT_MS * strength
    if a["finger"] == b["finger"]:
        return (SAME_FINGER_MS + move_ms(distance(a, b))) * strength
    rows = abs(int(a["row"]) - int(b["row"]))
    cost: float = (ROLL_MS + reach_b + ROW_JUMP_MS * rows) * strength
    inward = b["finger"] != 0 and a["finger"] != 0 and b["finger"] < a["finger"]
    return cost - INWARD_BONUS_MS if inward else cost


def cost_matrix_csv(definition: dict[str, Any]) -> str:
    geometry = definition["geometry"]
    keys: list[Key] = geometry["keys"]
    homes = home_keys(keys, geometry["home_row"])
    lines = [HEADER]
    for a in keys:
        for b in keys:
            cost = round(pair_cost(a, b, homes) * 2) / 2  # half-millisecond steps
            lines.append(f"{a['id']},{b['id']},{cost:.2f},0")
    return "\n".join(lines) + "\n"
