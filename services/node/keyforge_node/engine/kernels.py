# numba infers every type when it compiles; annotations would only be ignored, and its
# kernels take flat positional arguments (arrays and scalars), nothing else.
# mypy: disable-error-code="no-untyped-def"
# ruff: noqa: PLR0917
"""The compiled inner loop: swap deltas and whole parallel-tempering batches, no Python per step.

Imported only through ``keyforge_node.engine`` (which sets numba's on-disk
cache first). Every function is ``nopython`` and cached, so a restarted node
loads machine code instead of compiling again.

The tables are the scoring model's own (``engine.tables.KernelTables``):
``mono`` (C, W) monogram costs, ``dense`` the (W^3) gram cost table, and each
character's scored rows as a CSR slice ``start[c]:start[c + 1]`` of
``coeff/first/fstride/second/sstride/weight``, exactly the ``CharGrams`` the
Python delta uses. A replica's state is ``where`` (slot of each character,
C + 2 long: ZERO and PAD included), ``chars`` (character of each slot, -1 for
none), ``perm`` (which reference keycode each slot holds) and ``load`` (the
unigram counts of the left hand, the right hand, neither). ``holders[c]`` is
how many slots type character c: above 1 a character is typed from the
lowest of its slots, as in ``LayoutState``.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

NOTHING = -1
IMPROVEMENT = 1e-9


@njit(cache=True, nogil=True)
def _rows_change(dense, start, coeff, first, fstride, second, sstride, weight, where, c, old, new):
    total = 0.0
    for r in range(start[c], start[c + 1]):
        base = where[first[r]] * fstride[r] + where[second[r]] * sstride[r]
        total += weight[r] * (dense[base + coeff[r] * new] - dense[base + coeff[r] * old])
    return total


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
def swap_delta(t, where, chars, load, i, j):
    """score(after swapping slots i and j) - score(now); the state is left as it was."""
    mono, dense, start, coeff, first, fstride, second, sstride, weight, side, unig, holders, bal = t
    a = chars[i]
    b = chars[j]
    if a == b:
        return 0.0
    delta = 0.0
    l0, l1, l2 = load[0], load[1], load[2]
    moved_a = -1
    old_a = 0
    new_b = -1
    old_b = 0
    if a != NOTHING:
        old_a = where[a]
        new_a = _target(chars, holders, a, i, j)
        if new_a != old_a:
            delta += mono[a, new_a] - mono[a, old_a]
            delta += _rows_change(
                dense, start, coeff, first, fstride, second, sstride, weight, where, a, old_a, new_a
            )
            where[a] = new_a
            moved_a = a
            load[side[old_a]] -= unig[a]
            load[side[new_a]] += unig[a]
    if b != NOTHING:
        old_b = where[b]
        new_b = _target(chars, holders, b, j, i)
        if new_b != old_b:
            delta += mono[b, new_b] - mono[b, old_b]
            delta += _rows_change(
                dense, start, coeff, first, fstride, second, sstride, weight, where, b, old_b, new_b
            )
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
    for k in range(pairs.shape[0]):
        out[k] = swap_delta(t, where, chars, load, pairs[k, 0], pairs[k, 1])
        if apply:
            apply_swap(t, where, chars, perm, load, pairs[k, 0], pairs[k, 1])
    return out


@njit(cache=True, nogil=True)
def polish(t, where, chars, perm, load, free, passes):
    """First-improvement descent over every pair of free slots; returns (gain, deltas priced)."""
    gain = 0.0
    ops = 0
    n = free.shape[0]
    for _ in range(passes):
        improved = False
        for x in range(n):
            for y in range(x + 1, n):
                d = swap_delta(t, where, chars, load, free[x], free[y])
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
    for sweep in range(sweeps):
        for r in range(replicas):
            i = free[np.random.randint(n)]
            j = free[np.random.randint(n)]
            if i == j:
                continue
            d = swap_delta(t, where[r], chars[r], load[r], i, j)
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
