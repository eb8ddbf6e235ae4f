"""The scoring model's tables in the flat arrays the compiled kernels read, and replica states.

Nothing is recomputed: the arrays are the model's own (``mono``, the dense
gram table, each character's ``CharGrams``) laid end to end, so a compiled
delta adds the very numbers the Python delta adds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from keyforge_shared.scoring import ScoringModel
from keyforge_shared.scoring.slots import FloatArray, IntArray


def kernel_tables(model: ScoringModel, alphabet: Sequence[str]) -> tuple[Any, ...] | None:
    """The tuple every kernel takes for layouts of ``alphabet`` (one layout of the job's
    keycodes); None where the model has no dense table (more than 112 keys)."""
    dense = model.costs.dense
    if dense is None:
        return None
    grams = model.char_grams
    sizes = [len(g.rows) for g in grams]
    start = np.zeros(len(grams) + 1, dtype=np.int64)
    start[1:] = np.cumsum(sizes)

    def joined(name: str, dtype: type) -> Any:
        parts = [getattr(g, name) for g in grams]
        return np.ascontiguousarray(np.concatenate(parts) if parts else [], dtype=dtype)

    w = model.weights
    # How many slots type each character: constant over the swaps of one alphabet.
    holders = np.zeros(len(model.charset.chars), dtype=np.int64)
    for char in model.state(alphabet).chars:
        if char >= 0:
            holders[char] += 1
    return (
        np.ascontiguousarray(model.mono, dtype=np.float64),
        np.ascontiguousarray(dense, dtype=np.float64),
        start,
        joined("coeff", np.int64),
        joined("first", np.int64),
        joined("first_stride", np.int64),
        joined("second", np.int64),
        joined("second_stride", np.int64),
        joined("weight", np.float64),
        np.array(model.side, dtype=np.int64),
        np.array(model.unigrams, dtype=np.int64),
        holders,
        np.array([w.penalty_imbalance, w.max_hand_imbalance, w.corpus_scale], dtype=np.float64),
    )


@dataclass
class Replicas:
    """R layouts of one alphabet as the kernels mutate them (row r is replica r)."""

    keycodes: list[str]  # perm values index this list (the first layout's keycodes)
    where: IntArray  # (R, C + 2)
    chars: IntArray  # (R, K)
    perm: IntArray  # (R, K)
    load: IntArray  # (R, 3)

    @classmethod
    def of(cls, model: ScoringModel, layouts: Sequence[Sequence[str]]) -> Replicas:
        """States for ``layouts``, which must share one multiset of keycodes."""
        keycodes = list(layouts[0])
        wheres, charss, perms, loads = [], [], [], []
        for layout in layouts:
            state = model.state(layout)
            wheres.append(state.slots)
            charss.append(state.chars)
            perms.append(_permutation(keycodes, layout))
            loads.append([state.left, state.right, 0])
        return cls(
            keycodes,
            np.array(wheres, dtype=np.int64),
            np.array(charss, dtype=np.int64),
            np.array(perms, dtype=np.int64),
            np.array(loads, dtype=np.int64),
        )

    def layout(self, perm: IntArray) -> list[str]:
        return [self.keycodes[int(k)] for k in perm]

    def layouts(self) -> list[list[str]]:
        return [self.layout(p) for p in self.perm]


def _permutation(keycodes: list[str], layout: Sequence[str]) -> list[int]:
    """Indices into ``keycodes`` spelling ``layout`` (equal keycodes taken in order)."""
    spare: dict[str, list[int]] = {}
    for index in reversed(range(len(keycodes))):
        spare.setdefault(keycodes[index], []).append(index)
    return [spare[k].pop() for k in layout]


def scores_of(model: ScoringModel, layouts: Sequence[Sequence[str]]) -> FloatArray:
    """Exact full scores (the ``math.fsum`` path the hive verifies with)."""
    return np.array([model.score(layout) for layout in layouts], dtype=np.float64)
