"""The cost of each slot, slot pair and slot triple, before any layout is known.

Everything here is a table over slots (see ``slots``); the package docstring
states the model these tables implement. Every table is built by fixed
elementwise float64 arithmetic, so equal inputs give equal bits.
"""

from __future__ import annotations

import numpy as np

from keyforge_shared.scoring.slots import (
    INDEX,
    MIDDLE,
    NO_TIER,
    PINKY,
    RING,
    THUMB,
    BoolArray,
    FloatArray,
    IntArray,
    Slots,
    travel,
)
from keyforge_shared.scoring.weights import Weights

HAND_FINGER_CLASSES = 11  # hand * 5 + finger for two hands, then one "no key" class
NO_KEY_CLASS = 10


def finger_effort(slots: Slots, weights: Weights) -> FloatArray:
    """Per slot: how tiring the finger is, plus the stretch-column surcharge."""
    scales = np.array(weights.finger_scales, dtype=np.float64)
    effort: FloatArray = weights.weight_finger_effort * scales[slots.finger]
    return effort + np.where(slots.stretch, weights.penalty_monogram_stretch, 0.0)


def reach(slots: Slots, weights: Weights) -> FloatArray:
    """Per slot: weighted distance from where its finger rests."""
    index = np.arange(slots.count)
    return travel(
        slots, index, slots.home, weights.weight_lateral_travel, weights.weight_vertical_travel
    )


def tier_penalties(weights: Weights) -> FloatArray:
    """[character tier, slot tier]: 0 high/prime, 1 med, 2 low, 3 none (never penalised)."""
    w = weights
    table = np.zeros((NO_TIER + 1, NO_TIER + 1), dtype=np.float64)
    table[:3, :3] = [
        [0.0, w.penalty_high_in_med, w.penalty_high_in_low],
        [w.penalty_med_in_prime, 0.0, w.penalty_med_in_low],
        [w.penalty_low_in_prime, w.penalty_low_in_med, 0.0],
    ]
    return table


def pair_costs(slots: Slots, weights: Weights, timings: FloatArray) -> FloatArray:
    """K x K cost of typing slot q right after slot p (same key included)."""
    w = weights
    p, q = np.meshgrid(np.arange(slots.count), np.arange(slots.count), indexing="ij")
    hand, finger, row, col = slots.hand, slots.finger, slots.row, slots.col
    same_hand = hand[p] == hand[q]
    same_finger = same_hand & (finger[p] == finger[q])
    weak = (finger[p] == RING) | (finger[p] == PINKY)
    off_home = row[p] != slots.home_row
    rows_apart = np.abs(row[p] - row[q])
    cols_apart = np.abs(col[p] - col[q])

    repeat = (
        np.where(weak, w.penalty_sfr_weak_finger, 0.0)
        + np.where(off_home, w.penalty_sfr_bad_row, 0.0)
        + np.where(slots.stretch[p], w.penalty_sfr_lat, 0.0)
    )

    lateral_step = (rows_apart == 0) & (cols_apart == 1)
    both_below = (row[p] > slots.home_row) & (row[q] > slots.home_row)
    outward = np.abs(row[q] - slots.home_row) > np.abs(row[p] - slots.home_row)
    kind = np.select(
        [lateral_step & weak, lateral_step, both_below,
         rows_apart >= w.threshold_sfb_long_row_diff, (rows_apart > 0) & (cols_apart > 0)],
        [w.penalty_sfb_lateral_weak, w.penalty_sfb_lateral, w.penalty_sfb_bottom,
         w.penalty_sfb_long, w.penalty_sfb_diagonal],
        default=w.penalty_sfb_base + np.where(outward, w.penalty_sfb_outward_adder, 0.0),
    )  # fmt: skip
    # The lateral-weak penalty already prices the weak finger in.
    kind = np.where(weak & ~lateral_step, kind * w.weight_weak_finger_sfb, kind)
    same_finger_bigram = kind + travel(
        slots, p, q, w.weight_lateral_travel, w.weight_vertical_travel
    )

    fingers = (finger[p] != THUMB) & (finger[q] != THUMB) & same_hand & ~same_finger
    scissor = fingers & scissor_pairs(slots, weights)
    stretch = fingers & lateral_stretch_pairs(slots)
    ring_pinky = ((finger[p] == RING) & (finger[q] == PINKY)) | (
        (finger[p] == PINKY) & (finger[q] == RING)
    )
    roll = fingers & ~scissor & ~stretch
    other_fingers = (
        np.where(scissor, w.penalty_scissor * np.where(ring_pinky, w.penalty_ring_pinky, 1.0), 0.0)
        + np.where(stretch, w.penalty_lateral, 0.0)
        - np.where(roll & (finger[q] < finger[p]), w.bonus_bigram_roll_in, 0.0)
        - np.where(roll & (finger[q] > finger[p]), w.bonus_bigram_roll_out, 0.0)
    )

    extra = np.where(p == q, repeat, np.where(same_finger, same_finger_bigram, other_fingers))
    result: FloatArray = timings + extra
    return result


def scissor_pairs(slots: Slots, weights: Weights) -> BoolArray:
    """K x K: neighbouring non-thumb fingers of one hand, rows far apart, not a comfortable pair."""
    p, q = np.meshgrid(np.arange(slots.count), np.arange(slots.count), indexing="ij")
    finger, row = slots.finger, slots.row
    neighbours = (
        (slots.hand[p] == slots.hand[q])
        & (np.abs(finger[p] - finger[q]) == 1)
        & (finger[p] != THUMB)
        & (finger[q] != THUMB)
    )
    far = np.abs(row[p] - row[q]) >= weights.threshold_scissor_row_diff
    upper = np.where(row[p] < row[q], finger[p], finger[q])
    lower = np.where(row[p] < row[q], finger[q], finger[p])
    comfortable = np.zeros_like(neighbours)
    for top, bottom in sorted(weights.comfortable_scissor_pairs):
        comfortable |= (upper == top) & (lower == bottom)
    result: BoolArray = neighbours & far & ~comfortable
    return result


def lateral_stretch_pairs(slots: Slots) -> BoolArray:
    """K x K: neighbouring fingers of one hand, one on a stretch key, >= 2 key widths apart."""
    p, q = np.meshgrid(np.arange(slots.count), np.arange(slots.count), indexing="ij")
    finger = slots.finger
    result: BoolArray = (
        (slots.hand[p] == slots.hand[q])
        & (np.abs(finger[p] - finger[q]) == 1)
        & (finger[p] != THUMB)
        & (finger[q] != THUMB)
        & (slots.stretch[p] | slots.stretch[q])
        & (np.abs(slots.x[p] - slots.x[q]) >= 2.0)
    )
    return result


def skip_costs(slots: Slots, weights: Weights) -> FloatArray:
    """K x K cost of slots p and r as first and third keys of a trigram (a skipgram)."""
    p, r = np.meshgrid(np.arange(slots.count), np.arange(slots.count), indexing="ij")
    same_finger = (slots.hand[p] == slots.hand[r]) & (slots.finger[p] == slots.finger[r])
    weak = (slots.finger[p] == RING) | (slots.finger[p] == PINKY)
    cost = weights.penalty_skip * np.where(weak, weights.weight_weak_finger_sfb, 1.0)
    result: FloatArray = np.where(same_finger & (p != r), cost, 0.0)
    return result


def hand_finger_class(slots: Slots) -> IntArray:
    """Per slot of width K + 2: hand * 5 + finger, and NO_KEY_CLASS for absent and pad."""
    classes = np.full(slots.width, NO_KEY_CLASS, dtype=np.int64)
    classes[: slots.count] = slots.hand * 5 + slots.finger
    return classes


def flow_costs(weights: Weights) -> FloatArray:
    """[class 1, class 2, class 3]: one-hand runs, redirects and inward one-hand rolls."""
    w = weights
    table = np.zeros((HAND_FINGER_CLASSES,) * 3, dtype=np.float64)
    fingers = (INDEX, MIDDLE, RING, PINKY)
    for hand in (0, 1):
        for f1 in fingers:
            for f2 in fingers:
                for f3 in fingers:
                    d1, d2 = f2 - f1, f3 - f2
                    cost = w.penalty_hand_run
                    if d1 and d2 and (d1 > 0) != (d2 > 0):
                        cost += w.penalty_redirect
                    elif d1 < 0 and d2 < 0:  # towards the index finger, twice
                        cost -= w.bonus_inward_roll
                    table[hand * 5 + f1, hand * 5 + f2, hand * 5 + f3] = cost
    return table
