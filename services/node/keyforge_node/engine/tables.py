"""The scoring model's terms as the dense tables the compiled kernels read, and replica states.

The scoring model keeps each n-gram as a row; the kernels want the classic
quadratic-assignment split instead: per pair of *characters* how often they
meet (as a bigram either way round, or as the ends of a trigram), per pair of
*slots* what that costs, and per triple of characters the trigram weight
that the hand-finger flow term multiplies. Only characters the job's
alphabet places are kept (a character no key types sits in the absent slot,
whose every cost is zero), so for P placed characters and K keys the tables
take 8 (7 P^2 + 6 P^2 W + 4 K^2) bytes, W = P + 1 rounded up to a multiple of
``LANES`` (the trigram weights in all six orders, so each kernel loop reads
them contiguously, padded so whole rows fit vector registers, the last column
a flag; and the weights of the trigrams holding one character twice, three
P^2 tables, so a class change reads them contiguously too) and a few
differences of the flow table (under 0.2 MB): 104 keys of distinct
characters make about 54 MB, a 30-key board 1.4 MB. Each replica adds its
flow aggregates, 8 (3 N W + 3 A P) bytes for A active flow classes and N
pairs of classes of one group (``kernels.flow_state``; 30 KB for A = 8 in
two groups of 4, N = 32, P = 30).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from keyforge_shared.scoring import ScoringModel
from keyforge_shared.scoring.costs import HAND_FINGER_CLASSES
from keyforge_shared.scoring.slots import FloatArray, IntArray

LANES = 8  # float64s in a 512-bit vector: trigram rows are padded to a multiple of it
TRIGRAM_TABLE_MAX = 2_000_000  # P^3 entries (P <= 125): 6 x 16 MB; larger alphabets run in Python


def kernel_tables(model: ScoringModel, alphabet: Sequence[str]) -> tuple[Any, ...] | None:
    """The tuple every kernel takes for layouts of ``alphabet`` (one layout of the job's
    keycodes); None where the alphabet places too many characters for the trigram table."""
    chars = model.state(alphabet).chars
    placed = np.array(sorted({c for c in chars if c >= 0}), dtype=np.int64)
    p = len(placed)
    if p**3 > TRIGRAM_TABLE_MAX:
        return None
    cid = np.full(model.charset.pad + 1, -1, dtype=np.int64)
    cid[placed] = np.arange(p)
    slots, costs = model.slots, model.costs
    width, count = costs.width, slots.count

    rows = cid[model.scored.chars]  # -1 where a character is not placed (PAD included)
    weight = model.scored_weight
    bigram = model.scored.chars[:, 2] == model.charset.pad
    pair = np.zeros((p, p), dtype=np.float64)
    ends = np.zeros((p, p), dtype=np.float64)
    tri = np.zeros((p, p, p), dtype=np.float64)
    keep = bigram & (rows[:, 0] >= 0) & (rows[:, 1] >= 0)
    np.add.at(pair, (rows[keep, 0], rows[keep, 1]), weight[keep])
    # A skipgram's cost ignores the middle key, so every middle character counts, placed or not.
    keep = ~bigram & (rows[:, 0] >= 0) & (rows[:, 2] >= 0)
    np.add.at(ends, (rows[keep, 0], rows[keep, 2]), weight[keep])
    keep &= rows[:, 1] >= 0
    np.add.at(tri, (rows[keep, 0], rows[keep, 1], rows[keep, 2]), weight[keep])
    freq = np.stack([pair, pair.T, ends, ends.T], axis=2)

    bigram_cost = costs.pairs.reshape(width, width, 2)[:count, :count, 1]
    skip_cost = costs.skips.reshape(width, width)[:count, :count]
    cost = np.stack([bigram_cost, bigram_cost.T, skip_cost, skip_cost.T], axis=2)
    flow_class, flow, groups = _flow_classes(costs.flows, costs.classes)

    w = model.weights
    # How many slots type each character: constant over the swaps of one alphabet.
    holders = np.zeros(len(model.charset.chars), dtype=np.int64)
    for char in chars:
        if char >= 0:
            holders[char] += 1
    width = (p // LANES + 1) * LANES  # at least one spare column: ``_padded``'s flag
    return (
        np.ascontiguousarray(model.mono, dtype=np.float64),
        placed,
        cid,
        np.ascontiguousarray(freq),
        np.ascontiguousarray(cost),
        _padded(tri, width),  # [first, middle, last]
        flow_class,
        flow,
        _pricing_slices(flow),  # dflow
        np.array(model.side, dtype=np.int64),
        np.array(model.unigrams, dtype=np.int64),
        holders,
        np.array([w.penalty_imbalance, w.max_hand_imbalance, w.corpus_scale], dtype=np.float64),
        _padded(tri.transpose(1, 0, 2), width),  # [middle, first, last]
        _padded(tri.transpose(2, 0, 1), width),  # [last, first, middle]
        groups,
        _padded(tri.transpose(0, 2, 1), width),  # [first, last, middle]
        _padded(tri.transpose(1, 2, 0), width),  # [middle, last, first]
        _padded(tri.transpose(2, 1, 0), width),  # [last, middle, first]
        *_flow_differences(flow),  # dself, dtrip, cboth, ctrip
        _pair_offsets(groups),
        # [place of x, x, v]: w(v, v, x), w(v, x, v), w(x, v, v), for ``kernels._move_class``
        np.ascontiguousarray(
            np.stack(
                [np.einsum("vvx->xv", tri), np.einsum("vxv->xv", tri), np.einsum("xvv->xv", tri)]
            )
        ),
    )


def _padded(table: FloatArray, width: int) -> FloatArray:
    """``table`` with its last axis zero-padded to ``width``: the kernels add whole rows of
    it in vector registers, with no remainder loop. The last column flags the rows that
    hold any weight (1.0, else 0.0): a third of them hold none, and a class change skips
    those (``kernels._move_row``)."""
    out = np.zeros((*table.shape[:-1], width), dtype=np.float64)
    out[..., : table.shape[-1]] = table
    out[..., -1] = (table != 0).any(axis=-1)
    return out


def _pair_offsets(groups: IntArray) -> IntArray:
    """Where each pair of classes of one group sits in the flow aggregates: the pair (k1, k2)
    is row ``offsets[k1] + k2 - groups[k1, 0]``; ``offsets[A]`` (the inert class) is the
    number of such pairs."""
    active = groups.shape[0] - 1
    offsets = np.zeros(active + 1, dtype=np.int64)
    for k in range(active):
        offsets[k + 1] = offsets[k] + groups[k, 1] - groups[k, 0]
    return offsets


def _flow_classes(flows: FloatArray, classes: IntArray) -> tuple[IntArray, FloatArray, IntArray]:
    """Each slot's *active* flow class, the flow table over those classes, and each
    class's group as a range of classes.

    Only the hand-finger classes that some non-zero flow entry names are
    active (the finger keys of either hand: 8 of the 11); they are numbered
    0..A-1 and every other class becomes the inert class A, whose flow is
    zero. Classes that meet in a non-zero entry form a group (one per hand),
    numbered consecutively, so the kernels keep and update per-replica
    aggregates only over pairs of classes of one group: ``groups[k]`` is the
    range [start, stop) of class k's group ([0, 0) for the inert class).
    """
    k = HAND_FINGER_CLASSES
    full = flows.reshape(k, k, k)
    triples = np.argwhere(full != 0)
    owner = list(range(k))  # union-find over classes meeting in a non-zero entry

    def root(c: int) -> int:
        while owner[c] != c:
            c = owner[c]
        return c

    for a, b, c in triples.tolist():
        owner[root(b)] = root(a)
        owner[root(c)] = root(a)
    used = sorted({int(c) for c in triples.ravel()}, key=lambda c: (root(c), c))
    active = len(used)
    compact = np.full(k, active, dtype=np.int64)
    compact[used] = np.arange(active)
    table = np.zeros((active + 1,) * 3, dtype=np.float64)
    table[:active, :active, :active] = full[np.ix_(used, used, used)]
    groups = np.zeros((active + 1, 2), dtype=np.int64)
    for index, c in enumerate(used):
        members = [i for i, d in enumerate(used) if root(d) == root(c)]
        groups[index] = (members[0], members[-1] + 1)
    return compact[classes], table, groups


def _pricing_slices(flow: FloatArray) -> FloatArray:
    """[position, old class, new class, class, class]: how the flow table changes when the
    character in that position moves from the old class to the new one, over active
    classes of the other two places (in order)."""
    active = flow.shape[0] - 1
    first = flow[:, :active, :active]
    middle = flow.transpose(1, 0, 2)[:, :active, :active]
    last = flow.transpose(2, 0, 1)[:, :active, :active]
    slices = np.stack([first, middle, last])  # [position, class there, class, class]
    return np.ascontiguousarray(slices[:, None] - slices[:, :, None])


def _d2(flow: FloatArray, places: int, new: tuple[int, int], old: tuple[int, int], c: int) -> float:
    """Second difference of the flow table over two places (0: first and middle, 1: first
    and last, 2: middle and last; classes old, new), the remaining place at class c."""
    (n1, n2), (o1, o2) = new, old

    def at(x: int, y: int) -> float:
        key = ((x, y, c), (x, c, y), (c, x, y))[places]
        return float(flow[key])

    return at(n1, n2) - at(n1, o2) - at(o1, n2) + at(o1, o2)


def _d3(flow: FloatArray, old: tuple[int, int, int], new: tuple[int, int, int]) -> float:
    """Third difference of the flow table: every place changes."""
    total = 0.0
    for mask in range(8):  # which places take their new class
        key = tuple(new[p] if mask >> p & 1 else old[p] for p in range(3))
        total += (-1) ** (3 - bin(mask).count("1")) * float(flow[key])
    return total


def _flow_differences(flow: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    """The flow table's differences the kernels price class changes with, per (old, new):

    - ``dself`` [pair of places, old, new, c]: one character in both places of
      the pair moves (``_d2`` with n1 = n2, o1 = o2), the third at class c;
    - ``dtrip`` [old, new]: one character in all three places;
    - ``cboth`` [o, n, c, 6] and ``ctrip`` [o, n, 6]: two characters x and y
      trading classes (x: o -> n, y: n -> o), in the orders ``kernels._flow_both``
      reads them: x y, y x in the first and middle places, in the first and last,
      in the middle and last (the third at class c), then x x y, x y x, y x x,
      y y x, y x y, x y y.
    """
    classes = flow.shape[0]
    active = classes - 1
    dself = np.zeros((3, classes, classes, active))
    dtrip = np.zeros((classes, classes))
    cboth = np.zeros((classes, classes, active, 6))
    ctrip = np.zeros((classes, classes, 6))
    for o in range(classes):
        for n in range(classes):
            for c in range(active):
                for places in range(3):
                    dself[places, o, n, c] = _d2(flow, places, (n, n), (o, o), c)
                    cboth[o, n, c, 2 * places] = _d2(flow, places, (n, o), (o, n), c)
                    cboth[o, n, c, 2 * places + 1] = _d2(flow, places, (o, n), (n, o), c)
            dtrip[o, n] = _d3(flow, (o, o, o), (n, n, n))
            for q, (x, y, z) in enumerate(
                ((0, 0, 1), (0, 1, 0), (1, 0, 0), (1, 1, 0), (1, 0, 1), (0, 1, 1))
            ):
                olds, news = (o, n), (n, o)  # x: o -> n, y: n -> o
                ctrip[o, n, q] = _d3(flow, (olds[x], olds[y], olds[z]), (news[x], news[y], news[z]))
    return dself, dtrip, cboth, ctrip


def table_bytes(tables: tuple[Any, ...]) -> int:
    """Memory the dense tables of one job take (what the module docstring estimates)."""
    return sum(int(a.nbytes) for a in tables)


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
