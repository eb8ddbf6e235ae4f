"""Per-slot facts the cost model reads from a keyboard geometry, as numpy arrays.

Slot ``k`` is ``geometry.keys[k]``. Two virtual slots follow the real ones:
``absent`` (index K) holds every character the layout does not type, and
``pad`` (K + 1) fills the third place of a bigram so bigrams and trigrams
share one table. Both cost nothing anywhere.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from keyforge_shared.formats import Geometry, Key

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

THUMB, INDEX, MIDDLE, RING, PINKY = range(5)
NO_TIER = 3  # a slot in no tier list, or a character with no tier


@dataclass(frozen=True)
class Slots:
    count: int  # K real slots
    hand: IntArray
    finger: IntArray
    row: IntArray
    col: IntArray
    x: FloatArray  # key centres, in key widths
    y: FloatArray
    stretch: BoolArray
    tier: IntArray  # 0 prime, 1 med, 2 low, NO_TIER
    home: IntArray  # the slot where this slot's finger rests
    home_row: int

    @property
    def absent(self) -> int:
        return self.count

    @property
    def pad(self) -> int:
        return self.count + 1

    @property
    def width(self) -> int:
        """K + 2: real slots, then ``absent`` and ``pad``."""
        return self.count + 2


def compile_slots(geometry: Geometry) -> Slots:
    keys = geometry.keys
    tier = np.full(len(keys), NO_TIER, dtype=np.int64)
    for level, slots in enumerate((geometry.prime_slots, geometry.med_slots, geometry.low_slots)):
        tier[slots] = level
    return Slots(
        count=len(keys),
        hand=np.array([k.hand for k in keys], dtype=np.int64),
        finger=np.array([k.finger for k in keys], dtype=np.int64),
        row=np.array([k.row for k in keys], dtype=np.int64),
        col=np.array([k.col for k in keys], dtype=np.int64),
        x=np.array([k.x + k.w / 2 for k in keys], dtype=np.float64),
        y=np.array([k.y + k.h / 2 for k in keys], dtype=np.float64),
        stretch=np.array([k.is_stretch for k in keys], dtype=np.bool_),
        tier=tier,
        home=_home_slots(keys, geometry.home_row),
        home_row=geometry.home_row,
    )


def _home_slots(keys: list[Key], home_row: int) -> IntArray:
    """For every slot, the slot its finger rests on.

    A finger rests on its key in the row nearest the home row, off the stretch
    column. Where it has several (a pinky's outer column on a Corne, Caps Lock
    beside A), it rests on the one nearest the hand's other fingers, so that
    the home keys form one cluster; a thumb rests in the middle of its cluster.
    Ties go to the earlier key, so the choice never depends on anything but
    the geometry.
    """
    fingers = sorted({(k.hand, k.finger) for k in keys})
    candidates: dict[tuple[int, int], list[int]] = {}
    for hand_finger in fingers:
        own = [i for i, k in enumerate(keys) if (k.hand, k.finger) == hand_finger]
        nearest = min(abs(keys[i].row - home_row) + (0.5 if keys[i].is_stretch else 0) for i in own)
        candidates[hand_finger] = [
            i
            for i in own
            if abs(keys[i].row - home_row) + (0.5 if keys[i].is_stretch else 0) == nearest
        ]

    def centre(i: int) -> float:
        return keys[i].x + keys[i].w / 2

    rest: dict[tuple[int, int], int] = {}
    for (hand, finger), own in candidates.items():
        if finger == THUMB:
            mid = sum(centre(i) for i in own) / len(own)
            rest[(hand, finger)] = min(own, key=lambda i: (abs(centre(i) - mid), i))
            continue
        others = [
            slots for (h, f), slots in candidates.items() if h == hand and f not in (finger, THUMB)
        ]

        def spread(i: int, others: list[list[int]] = others) -> tuple[float, int]:
            return (sum(min(abs(centre(i) - centre(j)) for j in s) for s in others), i)

        rest[(hand, finger)] = min(own, key=spread)
    return np.array([rest[(k.hand, k.finger)] for k in keys], dtype=np.int64)


def travel(slots: Slots, a: IntArray, b: IntArray, lateral: float, vertical: float) -> FloatArray:
    """Weighted distance between key centres: lateral moves cost more than vertical ones."""
    dx = (slots.x[a] - slots.x[b]) * lateral
    dy = (slots.y[a] - slots.y[b]) * vertical
    result: FloatArray = np.sqrt(dx * dx + dy * dy)
    return result
