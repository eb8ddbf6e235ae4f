# numba infers every type when it compiles; annotations would only be ignored, and its
# kernels take flat positional arguments (arrays and scalars), nothing else.
# mypy: disable-error-code="no-untyped-def"
# ruff: noqa: PLR0917
"""The compiled inner loop: swap deltas and whole parallel-tempering batches, no Python per step.

Imported only through ``keyforge_node.engine`` (which sets numba's on-disk
cache first). Every function is ``nopython`` and cached, so a restarted node
loads machine code instead of compiling again.

The tables (``engine.tables.kernel_tables``) are dense, over the P distinct
characters the job's alphabet places (``placed``; ``cid`` maps a character
to its place there), so a swap costs O(P) plus O(H^2) for H keys of a hand,
not a walk over every n-gram holding the moved characters:

- ``mono`` (C, W): a character's monogram cost in each slot;
- pair terms, the classic quadratic-assignment delta: ``freq`` (P, P, 4)
  holds, for characters a and k, the weight of bigram ak, of bigram ka, of
  skipgram a_k and of skipgram k_a; ``cost`` (K, K, 4) the matching slot
  costs for a in slot n and k in slot s (bigram n->s, s->n, skip n..s,
  s..n). Moving a from o to n changes them by
  sum_k freq[a, k] . (cost[n, s_k] - cost[o, s_k]);
- the trigram flow term depends only on the hand-finger class of each of the
  three slots (``classes``, ``flows`` 11^3) and is non-zero only on three
  finger keys of one hand, so a move of a changes it only through the
  trigrams whose other two characters sit on finger keys of a's old or new
  hand, and not at all when a keeps its class. ``tri`` (P^3) holds the
  weight of each trigram of placed characters.

A swap moves its two characters one after the other (a first, then b priced
with a already moved), so every term holding both is counted once and
characters typed from several keys need no special case: ``where`` always
names the slot a character is typed from. A replica's state is ``where``
(slot of each character, C + 2 long: ZERO and PAD included), ``chars``
(character of each slot, -1 for none), ``perm`` (which reference keycode
each slot holds) and ``load`` (the unigram counts of the left hand, the
right hand, neither). ``holders[c]`` is how many slots type character c:
above 1 a character is typed from the lowest of its slots, as in
``LayoutState``.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

NOTHING = -1
IMPROVEMENT = 1e-9
CLASSES = 11  # hand-finger classes (``scoring.costs.HAND_FINGER_CLASSES``)


@njit(cache=True, nogil=True)
def _others_on(placed, where, hand, ca, h, out_cid, out_cls, classes):
    """Fill the placed characters other than ``ca`` that sit on finger keys of hand ``h``."""
    n = 0
    if h < 0:
        return 0
    for k in range(placed.shape[0]):
        if k == ca:
            continue
        s = where[placed[k]]
        if hand[s] == h:
            out_cid[n] = k
            out_cls[n] = classes[s]
            n += 1
    return n


@njit(cache=True, nogil=True)
def _flow_part(tri, flows, p, ca, g, cids, clss, n):
    """Flow cost of every trigram holding ``ca`` (class ``g``) whose others are ``cids``."""
    total = 0.0
    cc = CLASSES
    aa = (ca * p + ca) * p
    for x in range(n):
        u = cids[x]
        gu = clss[x]
        # a twice and u once, in each order
        total += tri[aa + u] * flows[(g * cc + g) * cc + gu]
        total += tri[(ca * p + u) * p + ca] * flows[(g * cc + gu) * cc + g]
        total += tri[(u * p + ca) * p + ca] * flows[(gu * cc + g) * cc + g]
        au = (ca * p + u) * p
        ua = (u * p + ca) * p
        uu = u * p * p
        for y in range(n):
            v = cids[y]
            gv = clss[y]
            total += tri[au + v] * flows[(g * cc + gu) * cc + gv]
            total += tri[ua + v] * flows[(gu * cc + g) * cc + gv]
            total += tri[uu + v * p + ca] * flows[(gu * cc + gv) * cc + g]
    total += tri[aa + ca] * flows[(g * cc + g) * cc + g]
    return total


@njit(cache=True, nogil=True)
def _move_change(t, where, c, old, new, cids, clss):
    """Score change when character c alone moves from slot ``old`` to ``new``."""
    mono, placed, cid, freq, cost, tri, flows, classes, hand = (
        t[0], t[1], t[2], t[3], t[4], t[5], t[6], t[7], t[8]
    )  # fmt: skip
    delta = mono[c, new] - mono[c, old]
    ca = cid[c]
    p = placed.shape[0]
    for k in range(p):
        if k == ca:
            continue
        s = where[placed[k]]
        delta += freq[ca, k, 0] * (cost[new, s, 0] - cost[old, s, 0])
        delta += freq[ca, k, 1] * (cost[new, s, 1] - cost[old, s, 1])
        delta += freq[ca, k, 2] * (cost[new, s, 2] - cost[old, s, 2])
        delta += freq[ca, k, 3] * (cost[new, s, 3] - cost[old, s, 3])
    # the character after itself: bigram aa, skipgram a_a
    delta += freq[ca, ca, 0] * (cost[new, new, 0] - cost[old, old, 0])
    delta += freq[ca, ca, 2] * (cost[new, new, 2] - cost[old, old, 2])
    g_new, g_old = classes[new], classes[old]
    if g_new != g_old:
        n = _others_on(placed, where, hand, ca, hand[new], cids[0], clss[0], classes)
        if n:
            delta += _flow_part(tri, flows, p, ca, g_new, cids[0], clss[0], n)
        n = _others_on(placed, where, hand, ca, hand[old], cids[1], clss[1], classes)
        if n:
            delta -= _flow_part(tri, flows, p, ca, g_old, cids[1], clss[1], n)
    return delta


@njit(cache=True, nogil=True)
def _target(chars, holders, c, leaves, lands):
    """The slot character ``c`` is typed from once it leaves ``leaves`` for ``lands``."""
    if holders[c] <= 1:
        return lands
    best = lands
    for s in range(chars.shape[0]):
        if s != leaves and chars[s] == c and s < best:
            best = s
    return best


@njit(cache=True, nogil=True)
def _balance(load, penalty, max_share, scale):
    busier = max(load[0], load[1])
    excess = busier - max_share * (load[0] + load[1])
    return penalty * excess / scale if excess > 0 else 0.0


@njit(cache=True, nogil=True)
def scratch(t):
    """Per-call working space of ``swap_delta`` (the characters of one hand, twice)."""
    p = t[1].shape[0]
    return np.empty((2, p), dtype=np.int64), np.empty((2, p), dtype=np.int64)


@njit(cache=True, nogil=True)
def swap_delta(t, where, chars, load, i, j, work):
    """score(after swapping slots i and j) - score(now); the state is left as it was.

    ``work`` is ``scratch(t)``, made once per kernel call (kernels may run in
    several threads at once, so the tables hold no scratch of their own).
    """
    side, unig, holders, bal = t[9], t[10], t[11], t[12]
    a = chars[i]
    b = chars[j]
    if a == b:
        return 0.0
    delta = 0.0
    l0, l1, l2 = load[0], load[1], load[2]
    moved_a = -1
    old_a = 0
    if a != NOTHING:
        old_a = where[a]
        new_a = _target(chars, holders, a, i, j)
        if new_a != old_a:
            delta += _move_change(t, where, a, old_a, new_a, work[0], work[1])
            where[a] = new_a
            moved_a = a
            load[side[old_a]] -= unig[a]
            load[side[new_a]] += unig[a]
    if b != NOTHING:
        old_b = where[b]
        new_b = _target(chars, holders, b, j, i)
        if new_b != old_b:
            delta += _move_change(t, where, b, old_b, new_b, work[0], work[1])
            load[side[old_b]] -= unig[b]
            load[side[new_b]] += unig[b]
    if moved_a != NOTHING:
        where[a] = old_a
    if load[0] != l0 or load[1] != l1:
        after = _balance(load, bal[0], bal[1], bal[2])
        load[0], load[1], load[2] = l0, l1, l2
        delta += after - _balance(load, bal[0], bal[1], bal[2])
    else:
        load[2] = l2
    return delta


@njit(cache=True, nogil=True)
def apply_swap(t, where, chars, perm, load, i, j):
    """Swap the contents of slots i and j in place."""
    side, unig, holders = t[9], t[10], t[11]
    a = chars[i]
    b = chars[j]
    if a != b:
        new_a = -1
        new_b = -1
        if a != NOTHING:
            new_a = _target(chars, holders, a, i, j)
        if b != NOTHING:
            new_b = _target(chars, holders, b, j, i)
        if a != NOTHING:
            load[side[where[a]]] -= unig[a]
            load[side[new_a]] += unig[a]
            where[a] = new_a
        if b != NOTHING:
            load[side[where[b]]] -= unig[b]
            load[side[new_b]] += unig[b]
            where[b] = new_b
        chars[i] = b
        chars[j] = a
    p = perm[i]
    perm[i] = perm[j]
    perm[j] = p


@njit(cache=True, nogil=True)
def price_swaps(t, where, chars, perm, load, pairs, apply):
    """The delta of each (i, j) in ``pairs``, each applied after pricing when ``apply``."""
    out = np.empty(pairs.shape[0])
    work = scratch(t)
    for k in range(pairs.shape[0]):
        out[k] = swap_delta(t, where, chars, load, pairs[k, 0], pairs[k, 1], work)
        if apply:
            apply_swap(t, where, chars, perm, load, pairs[k, 0], pairs[k, 1])
    return out


@njit(cache=True, nogil=True)
def polish(t, where, chars, perm, load, free, passes):
    """First-improvement descent over every pair of free slots; returns (gain, deltas priced)."""
    gain = 0.0
    ops = 0
    n = free.shape[0]
    work = scratch(t)
    for _ in range(passes):
        improved = False
        for x in range(n):
            for y in range(x + 1, n):
                d = swap_delta(t, where, chars, load, free[x], free[y], work)
                ops += 1
                if d < -IMPROVEMENT:
                    apply_swap(t, where, chars, perm, load, free[x], free[y])
                    gain += d
                    improved = True
        if not improved:
            break
    return gain, ops


@njit(cache=True, nogil=True)
def _swap_rows(m, r, s):
    for k in range(m.shape[1]):
        x = m[r, k]
        m[r, k] = m[s, k]
        m[s, k] = x


@njit(cache=True, nogil=True)
def temper(
    t, where, chars, perm, load, scores, temps, free, sweeps, exchange_every, seed, best_perm, best
):
    """Parallel tempering: ``sweeps`` rounds of one Metropolis swap attempt per replica.

    Replica r runs at ``temps[r]`` (coldest first); every ``exchange_every``
    rounds neighbours exchange states with probability
    min(1, exp((1/T_r - 1/T_r+1) (E_r - E_r+1))). ``scores`` follow the
    deltas; ``best_perm``/``best[0]`` keep the best state seen. Returns the
    deltas priced and the exchanges made.
    """
    np.random.seed(seed)
    replicas = scores.shape[0]
    n = free.shape[0]
    ops = 0
    exchanges = 0
    work = scratch(t)
    for sweep in range(sweeps):
        for r in range(replicas):
            i = free[np.random.randint(n)]
            j = free[np.random.randint(n)]
            if i == j:
                continue
            d = swap_delta(t, where[r], chars[r], load[r], i, j, work)
            ops += 1
            if d <= 0.0 or np.random.random() < math.exp(-d / temps[r]):
                apply_swap(t, where[r], chars[r], perm[r], load[r], i, j)
                scores[r] += d
                if scores[r] < best[0] - IMPROVEMENT:
                    best[0] = scores[r]
                    best_perm[:] = perm[r]
        if (sweep + 1) % exchange_every == 0:
            for r in range(replicas - 1):
                arg = (1.0 / temps[r] - 1.0 / temps[r + 1]) * (scores[r] - scores[r + 1])
                if arg >= 0.0 or np.random.random() < math.exp(arg):
                    _swap_rows(where, r, r + 1)
                    _swap_rows(chars, r, r + 1)
                    _swap_rows(perm, r, r + 1)
                    _swap_rows(load, r, r + 1)
                    e = scores[r]
                    scores[r] = scores[r + 1]
                    scores[r + 1] = e
                    exchanges += 1
    return ops, exchanges
