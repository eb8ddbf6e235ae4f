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
to its place there), so a swap costs O(P) plus O(A^2) for the A active flow
classes, not a walk over every n-gram holding the moved characters:

- ``mono`` (C, W): a character's monogram cost in each slot;
- pair terms, the classic quadratic-assignment delta: ``freq`` (P, P, 4)
  holds, for characters a and k, the weight of bigram ak, of bigram ka, of
  skipgram a_k and of skipgram k_a; ``cost`` (K, K, 4) the matching slot
  costs for a in slot n and k in slot s (bigram n->s, s->n, skip n..s,
  s..n). Moving a from o to n changes them by
  sum_k freq[a, k] . (cost[n, s_k] - cost[o, s_k]). A swap moves its two
  characters one after the other (a first, then b priced with a already
  moved), so a pair holding both is counted once.
- the trigram flow term, sum of w(x, y, z) flow[g(x), g(y), g(z)], depends
  only on the flow class g of each character's slot (``fc``: the finger
  keys' hand-finger classes, 8 of them, and one inert class for the rest).
  Each replica keeps that sum's weights aggregated by class (``flow_state``:
  G per character and the classes of the other two places, H per pair of
  characters and the class of the third), so a class change prices in
  O(A^2) lookups; the trigrams holding both swapped characters, or one
  twice, are priced exactly from H by finite differences of the flow table
  (``_d2``, ``_d3``). A swap that keeps both classes costs no flow work at
  all; one that is made updates H in O(P^2) and G in O(P A) per character
  that changes class (``_move_flow``).

Characters typed from several keys need no special case: ``where`` always
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


@njit(cache=True, nogil=True)
def _pair_change(t, where, c, old, new):
    """Monogram and pair-term change when character c alone moves from ``old`` to ``new``."""
    mono, placed, cid, freq, cost = t[0], t[1], t[2], t[3], t[4]
    ca = cid[c]
    # Four independent sums: without fastmath each += waits for the one before it.
    d0 = d1 = d2 = d3 = 0.0
    for k in range(placed.shape[0]):
        if k == ca:
            continue
        s = where[placed[k]]
        d0 += freq[ca, k, 0] * (cost[new, s, 0] - cost[old, s, 0])
        d1 += freq[ca, k, 1] * (cost[new, s, 1] - cost[old, s, 1])
        d2 += freq[ca, k, 2] * (cost[new, s, 2] - cost[old, s, 2])
        d3 += freq[ca, k, 3] * (cost[new, s, 3] - cost[old, s, 3])
    delta = mono[c, new] - mono[c, old] + ((d0 + d1) + (d2 + d3))
    # the character after itself: bigram aa, skipgram a_a
    delta += freq[ca, ca, 0] * (cost[new, new, 0] - cost[old, old, 0])
    delta += freq[ca, ca, 2] * (cost[new, new, 2] - cost[old, old, 2])
    return delta


@njit(cache=True, nogil=True)
def flow_state(t, where):
    """Fresh flow aggregates of the replicas ``where`` (R, C + 2): (G, H).

    With g(x) the active flow class of character x's slot and w(x, y, z) the
    trigram weights (``tri``), per replica:

    - H[0, c, x, y] = sum over z of class c of w(x, y, z)  (free last place),
      H[1, c, x, y] = ... of w(x, z, y) (free middle), H[2, c, x, y] = ... of
      w(z, x, y) (free first);
    - G[0, x, k1, k2] = sum of w(x, y, z) over g(y) = k1, g(z) = k2, and G[1, x]
      (x in the middle), G[2, x] (x last) alike.

    Pricing a move of x then takes O(A^2) lookups, and a move that is made
    updates H in O(P^2) and G in O(P A).
    """
    placed, fc, active = t[1], t[6], t[7].shape[0] - 1
    replicas, p = where.shape[0], placed.shape[0]
    g_all = np.zeros((replicas, 3, p, active, active))
    h_all = np.zeros((replicas, 3, active, p, p))
    cls = np.empty(p, dtype=np.int64)
    for r in range(replicas):
        for x in range(p):
            cls[x] = fc[where[r, placed[x]]]
        _build_flow(t[5], cls, active, g_all[r], h_all[r])
    return g_all, h_all


@njit(cache=True, nogil=True)
def _build_flow(tri, cls, active, g, h):
    p = cls.shape[0]
    for x in range(p):
        for y in range(p):
            for z in range(p):
                w = tri[x, y, z]
                if w != 0.0:
                    if cls[z] < active:
                        h[0, cls[z], x, y] += w
                    if cls[y] < active:
                        h[1, cls[y], x, z] += w
                    if cls[x] < active:
                        h[2, cls[x], y, z] += w
    for x in range(p):
        for y in range(p):
            ky = cls[y]
            if ky == active:
                continue
            for c in range(active):
                g[0, x, ky, c] += h[0, c, x, y]
                g[1, x, ky, c] += h[0, c, y, x]
                g[2, x, ky, c] += h[1, c, y, x]


@njit(cache=True, nogil=True)
def _d2(flow, i, j, n1, o1, n2, o2, c):
    """Second difference of the flow table in places i < j (classes old o, new n); the
    remaining place has class c."""
    if i == 0 and j == 1:
        return flow[n1, n2, c] - flow[n1, o2, c] - flow[o1, n2, c] + flow[o1, o2, c]
    if i == 0:
        return flow[n1, c, n2] - flow[n1, c, o2] - flow[o1, c, n2] + flow[o1, c, o2]
    return flow[c, n1, n2] - flow[c, n1, o2] - flow[c, o1, n2] + flow[c, o1, o2]


@njit(cache=True, nogil=True)
def _d3(flow, o1, o2, o3, n1, n2, n3):
    """Third difference of the flow table: every place changes (old o, new n)."""
    return (
        flow[n1, n2, n3]
        - flow[o1, n2, n3]
        - flow[n1, o2, n3]
        - flow[n1, n2, o3]
        + flow[n1, o2, o3]
        + flow[o1, n2, o3]
        + flow[o1, o2, n3]
        - flow[o1, o2, o3]
    )


@njit(cache=True, nogil=True)
def _flow_alone(t, g, h, x, old, new):
    """Flow change when character x (place ``x`` in ``placed``) alone changes class."""
    tri, flow, fp = t[5], t[7], t[8]
    active = flow.shape[0] - 1
    # every trigram holding x, once per place x holds: the others at their classes
    # (one running sum per place, so the three chains of additions overlap)
    groups = t[15]
    d0 = _dot_change(g[0, x], fp[0], groups, new, old)
    d1 = _dot_change(g[1, x], fp[1], groups, new, old)
    d2 = _dot_change(g[2, x], fp[2], groups, new, old)
    # x in two places (the third at its class), then in all three
    for c in range(active):
        d0 += h[0, c, x, x] * _d2(flow, 0, 1, new, old, new, old, c)
        d1 += h[1, c, x, x] * _d2(flow, 0, 2, new, old, new, old, c)
        d2 += h[2, c, x, x] * _d2(flow, 1, 2, new, old, new, old, c)
    return (d0 + d1) + (d2 + tri[x, x, x] * _d3(flow, old, old, old, new, new, new))


@njit(cache=True, nogil=True)
def _dot_change(gx, fp, groups, new, old):
    """sum of gx * (fp[new] - fp[old]) over (A, A) matrices: fp[k] is non-zero only
    on the block of k's group, so only those blocks are read."""
    if groups[new, 0] == groups[old, 0] and groups[new, 1] == groups[old, 1]:
        return _block_dot(gx, fp[new], fp[old], groups[new, 0], groups[new, 1], True)
    return _block_dot(gx, fp[new], fp[old], groups[new, 0], groups[new, 1], False) - _block_dot(
        gx, fp[old], fp[new], groups[old, 0], groups[old, 1], False
    )


@njit(cache=True, nogil=True)
def _block_dot(gx, plus, minus, lo, hi, both):
    """sum over the block [lo, hi)^2 of gx * plus (less gx * minus when ``both``),
    in four running sums."""
    s0 = s1 = s2 = s3 = 0.0
    for k1 in range(lo, hi):
        k2 = lo
        while k2 + 4 <= hi:
            if both:
                s0 += gx[k1, k2] * (plus[k1, k2] - minus[k1, k2])
                s1 += gx[k1, k2 + 1] * (plus[k1, k2 + 1] - minus[k1, k2 + 1])
                s2 += gx[k1, k2 + 2] * (plus[k1, k2 + 2] - minus[k1, k2 + 2])
                s3 += gx[k1, k2 + 3] * (plus[k1, k2 + 3] - minus[k1, k2 + 3])
            else:
                s0 += gx[k1, k2] * plus[k1, k2]
                s1 += gx[k1, k2 + 1] * plus[k1, k2 + 1]
                s2 += gx[k1, k2 + 2] * plus[k1, k2 + 2]
                s3 += gx[k1, k2 + 3] * plus[k1, k2 + 3]
            k2 += 4
        while k2 < hi:
            if both:
                s0 += gx[k1, k2] * (plus[k1, k2] - minus[k1, k2])
            else:
                s0 += gx[k1, k2] * plus[k1, k2]
            k2 += 1
    return (s0 + s1) + (s2 + s3)


@njit(cache=True, nogil=True)
def _flow_both(t, h, x, ox, nx, y, oy, ny):
    """The flow change of trigrams holding both x and y beyond what each move makes alone."""
    tri, flow = t[5], t[7]
    active = flow.shape[0] - 1
    d0 = d1 = d2 = 0.0
    for c in range(active):
        d0 += h[0, c, x, y] * _d2(flow, 0, 1, nx, ox, ny, oy, c)
        d1 += h[0, c, y, x] * _d2(flow, 0, 1, ny, oy, nx, ox, c)
        d2 += h[1, c, x, y] * _d2(flow, 0, 2, nx, ox, ny, oy, c)
        d0 += h[1, c, y, x] * _d2(flow, 0, 2, ny, oy, nx, ox, c)
        d1 += h[2, c, x, y] * _d2(flow, 1, 2, nx, ox, ny, oy, c)
        d2 += h[2, c, y, x] * _d2(flow, 1, 2, ny, oy, nx, ox, c)
    d0 += tri[x, x, y] * _d3(flow, ox, ox, oy, nx, nx, ny)
    d1 += tri[x, y, x] * _d3(flow, ox, oy, ox, nx, ny, nx)
    d2 += tri[y, x, x] * _d3(flow, oy, ox, ox, ny, nx, nx)
    d0 += tri[y, y, x] * _d3(flow, oy, oy, ox, ny, ny, nx)
    d1 += tri[y, x, y] * _d3(flow, oy, ox, oy, ny, nx, ny)
    d2 += tri[x, y, y] * _d3(flow, ox, oy, oy, nx, ny, ny)
    return (d0 + d1) + d2


@njit(cache=True, nogil=True)
def _flow_change(t, g, h, x, ox, nx, y, oy, ny):
    """Flow change when x and/or y (-1: keeps its class) change class together."""
    delta = 0.0
    if x >= 0:
        delta += _flow_alone(t, g, h, x, ox, nx)
    if y >= 0:
        delta += _flow_alone(t, g, h, y, oy, ny)
        if x >= 0:
            delta += _flow_both(t, h, x, ox, nx, y, oy, ny)
    return delta


@njit(cache=True, nogil=True)
def _move_flow(t, g, h, x, old, new):
    """Bring G and H up to date after character x (place in ``placed``) changed class."""
    tri_first, tri_middle, tri_last = t[5], t[13], t[14]
    active = g.shape[2]
    # G, x among the other places: first with H as it was (x's own trigrams by old classes)
    groups = t[15]
    if old < active:
        _regroup_first(g, h, x, old, -1.0, groups[old, 0], groups[old, 1])
    if new < active:
        _regroup_first(g, h, x, new, 1.0, groups[new, 0], groups[new, 1])
    _shift(h[0], tri_last[x], old, new)
    _shift(h[1], tri_middle[x], old, new)
    _shift(h[2], tri_first[x], old, new)
    # ... then with H as it is now, so a trigram holding x twice ends at (new, new)
    if old < active:
        _regroup_second(g, h, x, old, -1.0, groups[old, 0], groups[old, 1])
    if new < active:
        _regroup_second(g, h, x, new, 1.0, groups[new, 0], groups[new, 1])


@njit(cache=True, nogil=True)
def _regroup_first(g, h, x, k, sign, lo, hi):
    """Add ``sign`` times the trigrams whose earlier other place holds x, at class k
    (only the classes [lo, hi) of k's group: the flow is zero across groups)."""
    p = g.shape[1]
    for y in range(p):
        g0, g1, g2 = g[0, y, k], g[1, y, k], g[2, y, k]
        for c in range(lo, hi):
            g0[c] += sign * h[0, c, y, x]
            g1[c] += sign * h[0, c, x, y]
            g2[c] += sign * h[1, c, x, y]


@njit(cache=True, nogil=True)
def _regroup_second(g, h, x, k, sign, lo, hi):
    """Add ``sign`` times the trigrams whose later other place holds x, at class k."""
    p = g.shape[1]
    for y in range(p):
        for c in range(lo, hi):
            g[0, y, c, k] += sign * h[1, c, y, x]
            g[1, y, c, k] += sign * h[2, c, y, x]
            g[2, y, c, k] += sign * h[2, c, x, y]


@njit(cache=True, nogil=True)
def _shift(hq, weights, old, new):
    """Move a character's (P, P) trigram weights from class slice ``old`` to ``new``."""
    active, p = hq.shape[0], weights.shape[0]
    if old < active:
        out = hq[old]
        for y in range(p):
            for z in range(p):
                out[y, z] -= weights[y, z]
    if new < active:
        out = hq[new]
        for y in range(p):
            for z in range(p):
                out[y, z] += weights[y, z]


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
def swap_delta(t, where, chars, load, g, h, i, j):
    """score(after swapping slots i and j) - score(now); the state is left as it was.

    ``g`` and ``h`` are the replica's flow aggregates (``flow_state``).
    """
    cid, fc, side, unig, holders, bal = t[2], t[6], t[9], t[10], t[11], t[12]
    a = chars[i]
    b = chars[j]
    if a == b:
        return 0.0
    delta = 0.0
    l0, l1, l2 = load[0], load[1], load[2]
    # flow classes before and after, of the characters that change class
    fa = fb = -1
    oa = na = ob = nb = 0
    moved_a = -1
    old_a = 0
    if a != NOTHING:
        old_a = where[a]
        new_a = _target(chars, holders, a, i, j)
        if new_a != old_a:
            delta += _pair_change(t, where, a, old_a, new_a)
            if fc[new_a] != fc[old_a]:
                fa, oa, na = cid[a], fc[old_a], fc[new_a]
            where[a] = new_a
            moved_a = a
            load[side[old_a]] -= unig[a]
            load[side[new_a]] += unig[a]
    if b != NOTHING:
        old_b = where[b]
        new_b = _target(chars, holders, b, j, i)
        if new_b != old_b:
            delta += _pair_change(t, where, b, old_b, new_b)
            if fc[new_b] != fc[old_b]:
                fb, ob, nb = cid[b], fc[old_b], fc[new_b]
            load[side[old_b]] -= unig[b]
            load[side[new_b]] += unig[b]
    if moved_a != NOTHING:
        where[a] = old_a
    delta += _flow_change(t, g, h, fa, oa, na, fb, ob, nb)
    if load[0] != l0 or load[1] != l1:
        after = _balance(load, bal[0], bal[1], bal[2])
        load[0], load[1], load[2] = l0, l1, l2
        delta += after - _balance(load, bal[0], bal[1], bal[2])
    else:
        load[2] = l2
    return delta


@njit(cache=True, nogil=True)
def _relocate(t, where, load, g, h, c, new):
    """Character c is now typed from slot ``new``: its place, hand load and flow aggregates."""
    cid, fc, side, unig = t[2], t[6], t[9], t[10]
    old = where[c]
    load[side[old]] -= unig[c]
    load[side[new]] += unig[c]
    if fc[old] != fc[new]:
        _move_flow(t, g, h, cid[c], fc[old], fc[new])
    where[c] = new


@njit(cache=True, nogil=True)
def apply_swap(t, where, chars, perm, load, g, h, i, j):
    """Swap the contents of slots i and j in place."""
    holders = t[11]
    a = chars[i]
    b = chars[j]
    if a != b:
        new_a = -1
        new_b = -1
        if a != NOTHING:
            new_a = _target(chars, holders, a, i, j)
        if b != NOTHING:
            new_b = _target(chars, holders, b, j, i)
        if a != NOTHING and new_a != where[a]:
            _relocate(t, where, load, g, h, a, new_a)
        if b != NOTHING and new_b != where[b]:
            _relocate(t, where, load, g, h, b, new_b)
        chars[i] = b
        chars[j] = a
    p = perm[i]
    perm[i] = perm[j]
    perm[j] = p


@njit(cache=True, nogil=True)
def price_swaps(t, where, chars, perm, load, pairs, apply):
    """The delta of each (i, j) in ``pairs``, each applied after pricing when ``apply``."""
    out = np.empty(pairs.shape[0])
    g_all, h_all = flow_state(t, where.reshape(1, -1))
    g, h = g_all[0], h_all[0]
    for k in range(pairs.shape[0]):
        out[k] = swap_delta(t, where, chars, load, g, h, pairs[k, 0], pairs[k, 1])
        if apply:
            apply_swap(t, where, chars, perm, load, g, h, pairs[k, 0], pairs[k, 1])
    return out


@njit(cache=True, nogil=True)
def polish(t, where, chars, perm, load, free, passes):
    """First-improvement descent over every pair of free slots; returns (gain, deltas priced)."""
    gain = 0.0
    ops = 0
    n = free.shape[0]
    g_all, h_all = flow_state(t, where.reshape(1, -1))
    g, h = g_all[0], h_all[0]
    for _ in range(passes):
        improved = False
        for x in range(n):
            for y in range(x + 1, n):
                d = swap_delta(t, where, chars, load, g, h, free[x], free[y])
                ops += 1
                if d < -IMPROVEMENT:
                    apply_swap(t, where, chars, perm, load, g, h, free[x], free[y])
                    gain += d
                    improved = True
        if not improved:
            break
    return gain, ops


@njit(cache=True, nogil=True)
def temper(
    t, where, chars, perm, load, scores, temps, free, sweeps, exchange_every, seed, best_perm, best
):
    """Parallel tempering: ``sweeps`` Metropolis swap attempts per replica.

    Rung r of the ladder runs at ``temps[r]`` (coldest first); every
    ``exchange_every`` rounds neighbouring rungs exchange their states with
    probability min(1, exp((1/T_r - 1/T_r+1) (E_r - E_r+1))). The states stay
    where they are in memory (with their flow aggregates) and only trade
    temperatures; on return row r is again the state at rung r. ``scores``
    follow the deltas; ``best_perm``/``best[0]`` keep the best state seen.
    Returns the deltas priced and the exchanges made.
    """
    np.random.seed(seed)
    replicas = scores.shape[0]
    n = free.shape[0]
    ops = 0
    exchanges = 0
    g_all, h_all = flow_state(t, where)
    at = np.arange(replicas)  # at[rung] = the state there
    done = 0
    while done < sweeps:
        block = min(exchange_every, sweeps - done)
        # Between exchanges the replicas are independent: each runs its block of
        # attempts in one go, with its state and aggregates hot in the cache.
        for rung in range(replicas):
            r = at[rung]
            g, h = g_all[r], h_all[r]
            for _ in range(block):
                i = free[np.random.randint(n)]
                j = free[np.random.randint(n)]
                if i == j:
                    continue
                d = swap_delta(t, where[r], chars[r], load[r], g, h, i, j)
                ops += 1
                if d <= 0.0 or np.random.random() < math.exp(-d / temps[rung]):
                    apply_swap(t, where[r], chars[r], perm[r], load[r], g, h, i, j)
                    scores[r] += d
                    if scores[r] < best[0] - IMPROVEMENT:
                        best[0] = scores[r]
                        best_perm[:] = perm[r]
        done += block
        if block == exchange_every:
            for rung in range(replicas - 1):
                r, s = at[rung], at[rung + 1]
                arg = (1.0 / temps[rung] - 1.0 / temps[rung + 1]) * (scores[r] - scores[s])
                if arg >= 0.0 or np.random.random() < math.exp(arg):
                    at[rung], at[rung + 1] = s, r
                    exchanges += 1
    where[:] = where[at].copy()
    chars[:] = chars[at].copy()
    perm[:] = perm[at].copy()
    load[:] = load[at].copy()
    scores[:] = scores[at].copy()
    return ops, exchanges
