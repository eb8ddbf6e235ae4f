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
  G per character and the classes of the other two places, D per character
  held twice and the class of the third), so a class change prices in
  O(A^2) lookups of precomputed differences of the flow table (``dflow``,
  ``dself``, ``dtrip``); the trigrams holding both swapped characters are
  priced from their trigram rows (O(P)) by the second and third differences
  of the flow table (``cboth``, ``ctrip`` for a plain swap of two classes,
  ``_d2``, ``_d3`` otherwise). A swap that keeps both classes costs no flow
  work at all; one that is made updates G in O(P^2) per character that
  changes class, summing the trigram rows that hold it (``_move_class``).

The hot functions take arrays and integers only and index them in full (no
slices): a slice of a numba array is a new reference-counted view, and its
count updates cost more than the few multiplications around them.

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

# The per-step functions allocate nothing, so they compile without numba's reference
# counting: with it, every table taken out of the tuple ``t`` and every array handed on
# costs an atomic increment and decrement, about half the price of a swap. Their callers
# (which allocate, with counting) keep every array alive while they run. ``_nrt`` is a
# numba option its type stubs leave out. They may also reorder sums and fuse multiply-adds
# (a few percent faster, well inside the 1e-9 the deltas are held to); never assume away
# NaN or infinity.
SAFE_FASTMATH = {"reassoc", "contract", "nsz", "arcp"}
hot = njit(cache=True, nogil=True, _nrt=False, fastmath=SAFE_FASTMATH)  # type: ignore[call-overload]


@hot
def _pair_change(mono, placed, freq, cost, where, c, ca, old, new):
    """Monogram and pair-term change when character c (place ``ca``) alone moves
    from slot ``old`` to ``new``."""
    # Four independent sums: without fastmath each += waits for the one before it.
    d0 = d1 = d2 = d3 = 0.0
    for k in range(ca):
        s = where[placed[k]]
        d0 += freq[ca, k, 0] * (cost[new, s, 0] - cost[old, s, 0])
        d1 += freq[ca, k, 1] * (cost[new, s, 1] - cost[old, s, 1])
        d2 += freq[ca, k, 2] * (cost[new, s, 2] - cost[old, s, 2])
        d3 += freq[ca, k, 3] * (cost[new, s, 3] - cost[old, s, 3])
    for k in range(ca + 1, placed.shape[0]):
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
    """Fresh flow aggregates of the replicas ``where`` (R, C + 2): (cls, G, D).

    With g(x) the active flow class of character x's slot (``cls``, per
    placed character) and w(x, y, z) the trigram weights (``tri``), per replica:

    - G[0, (k1, k2), x] = sum of w(x, y, z) over g(y) = k1, g(z) = k2, and
      G[1, (k1, k2), x] (x in the middle: w(y, x, z)), G[2, (k1, k2), x] (x
      last: w(y, z, x)) alike, kept only for the pairs of classes of one group
      (the flow is zero across groups; row ``offsets[k1] + k2 - start`` of the
      group) and with the character last, so a class change updates whole
      padded rows;
    - D[0, x, c] = sum over g(z) = c of w(x, x, z), D[1, x, c] of w(x, z, x),
      D[2, x, c] of w(z, x, x): the trigrams holding x twice, by the third's class.
    """
    placed, tri, fc, active, groups, offsets = t[1], t[5], t[6], t[7].shape[0] - 1, t[15], t[23]
    replicas, p = where.shape[0], placed.shape[0]
    cls_all = np.empty((replicas, p), dtype=np.int64)
    g = np.zeros((replicas, 3, offsets[active], tri.shape[2]))
    d = np.zeros((replicas, 3, p, active))
    for r in range(replicas):
        for x in range(p):
            cls_all[r, x] = fc[where[r, placed[x]]]
        for x in range(p):
            cx = cls_all[r, x]
            for y in range(p):
                cy = cls_all[r, y]
                for z in range(p):
                    w = tri[x, y, z]
                    if w == 0.0:
                        continue
                    cz = cls_all[r, z]
                    if groups[cy, 0] <= cz < groups[cy, 1]:
                        g[r, 0, offsets[cy] + cz - groups[cy, 0], x] += w
                    if groups[cx, 0] <= cz < groups[cx, 1]:
                        g[r, 1, offsets[cx] + cz - groups[cx, 0], y] += w
                    if groups[cx, 0] <= cy < groups[cx, 1]:
                        g[r, 2, offsets[cx] + cy - groups[cx, 0], z] += w
            for z in range(p):
                cz = cls_all[r, z]
                if cz < active:
                    d[r, 0, x, cz] += tri[x, x, z]
                    d[r, 1, x, cz] += tri[x, z, x]
                    d[r, 2, x, cz] += tri[z, x, x]
    return cls_all, g, d


@hot
def _d2(flow, i, j, n1, o1, n2, o2, c):
    """Second difference of the flow table in places i < j (classes old o, new n); the
    remaining place has class c."""
    if i == 0 and j == 1:
        return flow[n1, n2, c] - flow[n1, o2, c] - flow[o1, n2, c] + flow[o1, o2, c]
    if i == 0:
        return flow[n1, c, n2] - flow[n1, c, o2] - flow[o1, c, n2] + flow[o1, c, o2]
    return flow[c, n1, n2] - flow[c, n1, o2] - flow[c, o1, n2] + flow[c, o1, o2]


@hot
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


@hot
def _flow_alone(g, r, d, tri, dflow, dself, dtrip, groups, offsets, x, old, new):
    """Flow change when character x alone changes class: every trigram holding x, as the
    mixed differences of the flow table over the places x holds (the others at their
    classes before the move). ``g[r]``, ``d[r]`` are the replica's aggregates."""
    s0 = s1 = s2 = s3 = 0.0
    # x in one place, the other two at their classes: dflow[q, old, new] is non-zero
    # only on the blocks of the old and the new class's groups
    for block in range(2):
        lo, hi = groups[new, 0], groups[new, 1]
        if block == 1:
            if groups[old, 0] == lo and groups[old, 1] == hi:
                break
            lo, hi = groups[old, 0], groups[old, 1]
        for k1 in range(lo, hi):
            row = offsets[k1] - lo
            for k2 in range(lo, hi):
                s0 += g[r, 0, row + k2, x] * dflow[0, old, new, k1, k2]
                s1 += g[r, 1, row + k2, x] * dflow[1, old, new, k1, k2]
                s2 += g[r, 2, row + k2, x] * dflow[2, old, new, k1, k2]
    # x in two places (the third at its class), then in all three
    for c in range(d.shape[3]):
        s1 += d[r, 0, x, c] * dself[0, old, new, c]
        s2 += d[r, 1, x, c] * dself[1, old, new, c]
        s3 += d[r, 2, x, c] * dself[2, old, new, c]
    return (s0 + s1) + (s2 + s3) + tri[x, x, x] * dtrip[old, new]


@njit(cache=True, nogil=True, inline="always")
def _flow_both(cls, r, tri, first_last, middle_last, flow, cboth, ctrip, k, x, ox, nx, y, oy, ny):
    """The flow change of trigrams holding both x and y beyond what each move makes alone:
    x and y in two places (the third at its class before the swap, read from the trigram
    rows), then in all three. ``k`` is scratch space (A, 6)."""
    active = k.shape[0]
    plain = oy == nx and ny == ox  # x and y trade classes: the differences are tabled
    if plain:
        for c in range(active):
            for q in range(6):
                k[c, q] = cboth[ox, nx, c, q]
    else:
        for c in range(active):
            k[c, 0] = _d2(flow, 0, 1, nx, ox, ny, oy, c)
            k[c, 1] = _d2(flow, 0, 1, ny, oy, nx, ox, c)
            k[c, 2] = _d2(flow, 0, 2, nx, ox, ny, oy, c)
            k[c, 3] = _d2(flow, 0, 2, ny, oy, nx, ox, c)
            k[c, 4] = _d2(flow, 1, 2, nx, ox, ny, oy, c)
            k[c, 5] = _d2(flow, 1, 2, ny, oy, nx, ox, c)
    # rows: w(x, y, z), w(y, x, z); w(x, z, y), w(y, z, x); w(z, x, y), w(z, y, x)
    d0 = d1 = d2 = 0.0
    for z in range(cls.shape[1]):
        c = cls[r, z]
        if c < active:
            d0 += tri[x, y, z] * k[c, 0] + tri[y, x, z] * k[c, 1]
            d1 += first_last[x, y, z] * k[c, 2] + first_last[y, x, z] * k[c, 3]
            d2 += middle_last[x, y, z] * k[c, 4] + middle_last[y, x, z] * k[c, 5]
    if plain:
        d0 += tri[x, x, y] * ctrip[ox, nx, 0] + tri[y, y, x] * ctrip[ox, nx, 3]
        d1 += tri[x, y, x] * ctrip[ox, nx, 1] + tri[y, x, y] * ctrip[ox, nx, 4]
        d2 += tri[y, x, x] * ctrip[ox, nx, 2] + tri[x, y, y] * ctrip[ox, nx, 5]
    else:
        d0 += tri[x, x, y] * _d3(flow, ox, ox, oy, nx, nx, ny)
        d1 += tri[x, y, x] * _d3(flow, ox, oy, ox, nx, ny, nx)
        d2 += tri[y, x, x] * _d3(flow, oy, ox, ox, ny, nx, nx)
        d0 += tri[y, y, x] * _d3(flow, oy, oy, ox, ny, ny, nx)
        d1 += tri[y, x, y] * _d3(flow, oy, ox, oy, ny, nx, ny)
        d2 += tri[x, y, y] * _d3(flow, ox, oy, oy, nx, ny, ny)
    return (d0 + d1) + d2


@hot
def _move_class(t, cls, g, d, r, x, y, old, new):
    """Bring replica r's aggregates up to date after character x changed class
    ``old`` -> ``new`` and, unless y is -1, character y ``new`` -> ``old`` with it.

    The classes change by a rank-one step (x's row gains new - old, y's loses
    it), so G[q] changes, per other character v, by the trigrams holding x
    less those holding y in one of v's two other places: first the earlier
    place, summed over the later one at the classes before the move, then the
    later place, summed over the earlier one at the classes after it, so a
    trigram holding the moved characters twice ends at their new classes.
    """
    tri, middle_first, last_first, groups = t[5], t[13], t[14], t[15]
    first_last, middle_last, last_middle, offsets = t[16], t[17], t[18], t[23]
    # rows [x, z, v]: w(v, x, z) for G[0], w(x, v, z) for G[1], w(x, z, v) for G[2]
    _regroup(middle_last, first_last, tri, x, y, cls, r, g, old, new, groups, offsets, True)
    cls[r, x] = new
    if y >= 0:
        cls[r, y] = old
    # rows [x, y, v]: w(v, y, x) for G[0], w(y, v, x) for G[1], w(y, x, v) for G[2]
    _regroup(
        last_middle, last_first, middle_first, x, y, cls, r, g, old, new, groups, offsets, False
    )
    # the trigrams holding v twice and x (or y) once: rows of ``doubles``, read contiguously
    doubles, active = t[24], d.shape[3]
    for v in range(cls.shape[1]):
        w0, w1, w2 = doubles[0, x, v], doubles[1, x, v], doubles[2, x, v]
        if y >= 0:
            w0 -= doubles[0, y, v]
            w1 -= doubles[1, y, v]
            w2 -= doubles[2, y, v]
        if old < active:
            d[r, 0, v, old] -= w0
            d[r, 1, v, old] -= w1
            d[r, 2, v, old] -= w2
        if new < active:
            d[r, 0, v, new] += w0
            d[r, 1, v, new] += w1
            d[r, 2, v, new] += w2


@hot
def _regroup(rows0, rows1, rows2, x, y, cls, r, g, old, new, groups, offsets, earlier):
    """For every character v, move the weights rows_q[x, z, v] (less rows_q[y, z, v] unless
    y is -1) from the old class to the new one in v's earlier (or later) other place of
    G[q], the other place at the class of z; only z of the old and new groups matter (the
    flow is zero across groups). Whole padded rows: vector adds."""
    p = cls.shape[1]
    lo_o, hi_o, lo_n, hi_n = groups[old, 0], groups[old, 1], groups[new, 0], groups[new, 1]
    for z in range(p):
        c = cls[r, z]
        # the rows G loses the weights from and gains them in (-1: none, z is in neither)
        lose = gain = -1
        if lo_o <= c < hi_o:
            lose = offsets[old] + c - lo_o if earlier else offsets[c] + old - lo_o
        if lo_n <= c < hi_n:
            gain = offsets[new] + c - lo_n if earlier else offsets[c] + new - lo_n
        if lose >= 0 or gain >= 0:
            _move_row(g, r, 0, lose, gain, rows0, x, y, z)
            _move_row(g, r, 1, lose, gain, rows1, x, y, z)
            _move_row(g, r, 2, lose, gain, rows2, x, y, z)


@njit(cache=True, nogil=True, inline="always")
def _move_row(g, r, q, lose, gain, rows, x, y, z):
    """G[q][lose] -= rows[x, z] - rows[y, z] and G[q][gain] += the same (no y if -1; no
    ``lose`` or ``gain`` if -1): x's and y's rows in one pass, each row of G read and
    written once.

    A row of zeros (no trigram holds those two characters in those places: a
    third of the rows) is skipped: its last column, past every character,
    flags the rows with weight (``tables._padded``). The flags are added into
    G's last column with the rest, which nothing reads."""
    flag = g.shape[3] - 1
    by_x = rows[x, z, flag] != 0.0
    by_y = y >= 0 and rows[y, z, flag] != 0.0
    # a row of zeros is not read at all: a third of them, so of the pairs nearly half
    if by_x and by_y:
        _add_to(g, r, q, lose, gain, rows, x, y, z, 1.0, -1.0)
    elif by_x:
        _add_to(g, r, q, lose, gain, rows, x, x, z, 1.0, 0.0)
    elif by_y:
        _add_to(g, r, q, lose, gain, rows, y, y, z, -1.0, 0.0)


@njit(cache=True, nogil=True, inline="always")
def _add_to(g, r, q, lose, gain, rows, a, b, z, sa, sb):
    """``_move_row``'s adds, of sa rows[a, z] + sb rows[b, z] (each 1.0, -1.0 or 0.0)."""
    if lose >= 0 and gain >= 0:
        for v in range(g.shape[3]):
            w = sa * rows[a, z, v] + sb * rows[b, z, v]
            g[r, q, lose, v] -= w
            g[r, q, gain, v] += w
    elif lose >= 0:
        for v in range(g.shape[3]):
            g[r, q, lose, v] -= sa * rows[a, z, v] + sb * rows[b, z, v]
    else:
        for v in range(g.shape[3]):
            g[r, q, gain, v] += sa * rows[a, z, v] + sb * rows[b, z, v]


@njit(cache=True, nogil=True, inline="always")
def _target(chars, holders, c, leaves, lands):
    """The slot character ``c`` is typed from once it leaves ``leaves`` for ``lands``."""
    if holders[c] <= 1:
        return lands
    best = lands
    for s in range(chars.shape[0]):
        if s != leaves and chars[s] == c and s < best:
            best = s
    return best


@njit(cache=True, nogil=True, inline="always")
def _balance(load, penalty, max_share, scale):
    busier = max(load[0], load[1])
    excess = busier - max_share * (load[0] + load[1])
    return penalty * excess / scale if excess > 0 else 0.0


@njit(cache=True, nogil=True, inline="always")
def swap_delta(t, where, chars, load, cls, g, d, r, k, i, j):
    """score(after swapping slots i and j) - score(now) for replica r; the state is left as
    it was.

    ``where``, ``chars``, ``load`` are the replica's rows; ``cls``, ``g``, ``d``
    all replicas' flow classes and aggregates (``flow_state``), ``k`` scratch (A, 6).
    """
    mono, placed, cid, freq, cost, fc = t[0], t[1], t[2], t[3], t[4], t[6]
    side, unig, holders, bal = t[9], t[10], t[11], t[12]
    a = chars[i]
    b = chars[j]
    if a == b:
        return 0.0
    if _plain(holders, a, b):
        return _plain_delta(t, where, load, cls, g, d, r, k, a, b, i, j)
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
            delta += _pair_change(mono, placed, freq, cost, where, a, cid[a], old_a, new_a)
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
            delta += _pair_change(mono, placed, freq, cost, where, b, cid[b], old_b, new_b)
            if fc[new_b] != fc[old_b]:
                fb, ob, nb = cid[b], fc[old_b], fc[new_b]
            load[side[old_b]] -= unig[b]
            load[side[new_b]] += unig[b]
    if moved_a != NOTHING:
        where[a] = old_a
    if fa >= 0 or fb >= 0:
        delta += _flow_change(t, cls, g, d, r, k, fa, oa, na, fb, ob, nb)
    if load[0] != l0 or load[1] != l1:
        after = _balance(load, bal[0], bal[1], bal[2])
        load[0], load[1], load[2] = l0, l1, l2
        delta += after - _balance(load, bal[0], bal[1], bal[2])
    else:
        load[2] = l2
    return delta


@njit(cache=True, nogil=True, inline="always")
def _plain(holders, a, b):
    """Whether a swap of a and b is plain: both are characters typed from one key only."""
    return a != NOTHING and b != NOTHING and holders[a] <= 1 and holders[b] <= 1  # noqa: PLR1714


@njit(cache=True, nogil=True, inline="always")
def _plain_delta(t, where, load, cls, g, d, r, k, a, b, i, j):
    """``swap_delta`` when a (in slot i) and b (in slot j) are each typed from one key only,
    the common case: the two characters trade slots, so their pair terms with the others
    take one pass, and their flow classes trade, so their flow terms do too."""
    mono, placed, cid, freq, cost, fc = t[0], t[1], t[2], t[3], t[4], t[6]
    side, unig, bal = t[9], t[10], t[12]
    ca, cb = cid[a], cid[b]
    # a moves i -> j with b still in j, then b moves j -> i with a in j (as ``_pair_change``
    # twice): every other character's pairs with a and with b in one sum
    d0 = d1 = d2 = d3 = 0.0
    for x in range(placed.shape[0]):
        if x in (ca, cb):
            continue
        s = where[placed[x]]
        d0 += (freq[ca, x, 0] - freq[cb, x, 0]) * (cost[j, s, 0] - cost[i, s, 0])
        d1 += (freq[ca, x, 1] - freq[cb, x, 1]) * (cost[j, s, 1] - cost[i, s, 1])
        d2 += (freq[ca, x, 2] - freq[cb, x, 2]) * (cost[j, s, 2] - cost[i, s, 2])
        d3 += (freq[ca, x, 3] - freq[cb, x, 3]) * (cost[j, s, 3] - cost[i, s, 3])
    delta = (mono[a, j] - mono[a, i]) + (mono[b, i] - mono[b, j]) + ((d0 + d1) + (d2 + d3))
    for lane in range(4):
        delta += freq[ca, cb, lane] * (cost[j, j, lane] - cost[i, j, lane])
        delta += freq[cb, ca, lane] * (cost[i, j, lane] - cost[j, j, lane])
    delta += freq[ca, ca, 0] * (cost[j, j, 0] - cost[i, i, 0])
    delta += freq[ca, ca, 2] * (cost[j, j, 2] - cost[i, i, 2])
    delta += freq[cb, cb, 0] * (cost[i, i, 0] - cost[j, j, 0])
    delta += freq[cb, cb, 2] * (cost[i, i, 2] - cost[j, j, 2])
    p, q = fc[i], fc[j]
    if p != q:
        delta += _flow_trade(t, cls, g, d, r, k, ca, cb, p, q)
    if side[i] != side[j]:
        l0, l1, l2 = load[0], load[1], load[2]
        moved = unig[a] - unig[b]
        load[side[i]] -= moved
        load[side[j]] += moved
        after = _balance(load, bal[0], bal[1], bal[2])
        load[0], load[1], load[2] = l0, l1, l2
        delta += after - _balance(load, bal[0], bal[1], bal[2])
    return delta


@njit(cache=True, nogil=True, inline="always")
def _flow_trade(t, cls, g, d, r, k, x, y, old, new):
    """Flow change when x (class ``old``) and y (class ``new``) trade classes: their
    one-place terms in one pass over G[x] - G[y] (y's change is x's negated), the rest
    as in ``_flow_alone`` and ``_flow_both``."""
    tri, flow, dflow, groups, first_last, middle_last = t[5], t[7], t[8], t[15], t[16], t[17]
    dself, dtrip, cboth, ctrip = t[19], t[20], t[21], t[22]
    offsets = t[23]
    s0 = s1 = s2 = s3 = 0.0
    for block in range(2):
        lo, hi = groups[new, 0], groups[new, 1]
        if block == 1:
            if groups[old, 0] == lo and groups[old, 1] == hi:
                break
            lo, hi = groups[old, 0], groups[old, 1]
        for k1 in range(lo, hi):
            row = offsets[k1] - lo
            for k2 in range(lo, hi):
                e = row + k2
                s0 += (g[r, 0, e, x] - g[r, 0, e, y]) * dflow[0, old, new, k1, k2]
                s1 += (g[r, 1, e, x] - g[r, 1, e, y]) * dflow[1, old, new, k1, k2]
                s2 += (g[r, 2, e, x] - g[r, 2, e, y]) * dflow[2, old, new, k1, k2]
    for c in range(d.shape[3]):
        s1 += d[r, 0, x, c] * dself[0, old, new, c] + d[r, 0, y, c] * dself[0, new, old, c]
        s2 += d[r, 1, x, c] * dself[1, old, new, c] + d[r, 1, y, c] * dself[1, new, old, c]
        s3 += d[r, 2, x, c] * dself[2, old, new, c] + d[r, 2, y, c] * dself[2, new, old, c]
    delta = (s0 + s1) + (s2 + s3)
    delta += tri[x, x, x] * dtrip[old, new] + tri[y, y, y] * dtrip[new, old]
    return delta + _flow_both(
        cls, r, tri, first_last, middle_last, flow, cboth, ctrip, k, x, old, new, y, new, old
    )


@hot
def _flow_change(t, cls, g, d, r, k, x, ox, nx, y, oy, ny):
    """Flow change when x and/or y (-1: keeps its class) change class together."""
    tri, flow, dflow, groups, first_last, middle_last = t[5], t[7], t[8], t[15], t[16], t[17]
    dself, dtrip, cboth, ctrip = t[19], t[20], t[21], t[22]
    offsets = t[23]
    delta = 0.0
    if x >= 0:
        delta += _flow_alone(g, r, d, tri, dflow, dself, dtrip, groups, offsets, x, ox, nx)
    if y >= 0:
        delta += _flow_alone(g, r, d, tri, dflow, dself, dtrip, groups, offsets, y, oy, ny)
        if x >= 0:
            delta += _flow_both(
                cls, r, tri, first_last, middle_last, flow, cboth, ctrip, k, x, ox, nx, y, oy, ny
            )
    return delta


@hot
def _relocate(t, where, load, cls, g, d, r, c, new):
    """Character c is now typed from slot ``new``: its place, hand load and flow aggregates."""
    cid, fc, side, unig = t[2], t[6], t[9], t[10]
    old = where[c]
    load[side[old]] -= unig[c]
    load[side[new]] += unig[c]
    if fc[old] != fc[new]:
        _move_class(t, cls, g, d, r, cid[c], -1, fc[old], fc[new])
    where[c] = new


@hot
def apply_swap(t, where, chars, perm, load, cls, g, d, r, i, j):
    """Swap the contents of slots i and j of replica r in place."""
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
        cid, fc = t[2], t[6]
        if _plain(holders, a, b) and fc[i] != fc[j]:
            # a and b trade slots and classes: one rank-one update of the aggregates
            _move_class(t, cls, g, d, r, cid[a], cid[b], fc[i], fc[j])
            where[a], where[b] = j, i
            side, unig = t[9], t[10]
            moved = unig[a] - unig[b]
            load[side[i]] -= moved
            load[side[j]] += moved
        else:
            if a != NOTHING and new_a != where[a]:
                _relocate(t, where, load, cls, g, d, r, a, new_a)
            if b != NOTHING and new_b != where[b]:
                _relocate(t, where, load, cls, g, d, r, b, new_b)
        chars[i] = b
        chars[j] = a
    p = perm[i]
    perm[i] = perm[j]
    perm[j] = p


@njit(cache=True, nogil=True)
def _scratch(t):
    """Work space for ``_flow_both`` (A, 6)."""
    return np.empty((t[7].shape[0] - 1, 6))


@njit(cache=True, nogil=True)
def price_swaps(t, where, chars, perm, load, pairs, apply):
    """The delta of each (i, j) in ``pairs``, each applied after pricing when ``apply``."""
    out = np.empty(pairs.shape[0])
    cls, g, d = flow_state(t, where.reshape(1, -1))
    k = _scratch(t)
    _price_all(t, where, chars, perm, load, cls, g, d, k, pairs, apply, out)
    return out


@hot
def _price_all(t, where, chars, perm, load, cls, g, d, k, pairs, apply, out):
    for n in range(pairs.shape[0]):
        i, j = pairs[n, 0], pairs[n, 1]
        out[n] = swap_delta(t, where, chars, load, cls, g, d, 0, k, i, j)
        if apply:
            apply_swap(t, where, chars, perm, load, cls, g, d, 0, i, j)


@njit(cache=True, nogil=True)
def polish(t, where, chars, perm, load, free, passes):
    """First-improvement descent over every pair of free slots; returns (gain, deltas priced)."""
    cls, g, d = flow_state(t, where.reshape(1, -1))
    k = _scratch(t)
    return _descend(t, where, chars, perm, load, cls, g, d, k, free, passes)


@hot
def _descend(t, where, chars, perm, load, cls, g, d, k, free, passes):
    gain = 0.0
    ops = 0
    n = free.shape[0]
    for _ in range(passes):
        improved = False
        for x in range(n):
            for y in range(x + 1, n):
                delta = swap_delta(t, where, chars, load, cls, g, d, 0, k, free[x], free[y])
                ops += 1
                if delta < -IMPROVEMENT:
                    apply_swap(t, where, chars, perm, load, cls, g, d, 0, free[x], free[y])
                    gain += delta
                    improved = True
        if not improved:
            break
    return gain, ops


@njit(cache=True, nogil=True)
def temper(
    t, where, chars, perm, load, cls, g, d, scores, temps, free, sweeps, exchange_every, seed,
    best_perm, best,
):  # fmt: skip
    """Parallel tempering: ``sweeps`` Metropolis swap attempts per replica.

    Rung r of the ladder runs at ``temps[r]`` (coldest first); every
    ``exchange_every`` rounds neighbouring rungs exchange their states with
    probability min(1, exp((1/T_r - 1/T_r+1) (E_r - E_r+1))). The states stay
    where they are in memory (with their flow aggregates) and only trade
    temperatures; on return row r is again the state at rung r, with its flow
    aggregates (``cls``, ``g``, ``d`` from ``flow_state``, kept up to date, so
    the caller may hand them to the next call). ``scores`` follow the deltas;
    ``best_perm``/``best[0]`` keep the best state seen. Returns the deltas
    priced and the exchanges made.
    """
    np.random.seed(seed)
    replicas = scores.shape[0]
    ops = 0
    exchanges = 0
    k = _scratch(t)
    at = np.arange(replicas)  # at[rung] = the state there
    done = 0
    while done < sweeps:
        block = min(exchange_every, sweeps - done)
        # Between exchanges the replicas are independent: each runs its block of
        # attempts in one go, with its state and aggregates hot in the cache.
        for rung in range(replicas):
            r = at[rung]
            ops += _metropolis(
                t, where[r], chars[r], perm[r], load[r], cls, g, d, r, k,
                scores, temps[rung], free, block, best_perm, best,
            )  # fmt: skip
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
    cls[:] = cls[at].copy()
    g[:] = g[at].copy()
    d[:] = d[at].copy()
    return ops, exchanges


@hot
def _metropolis(
    t, where, chars, perm, load, cls, g, d, r, k, scores, temp, free, attempts, best_perm, best
):
    """``attempts`` Metropolis swap attempts on replica r at ``temp``; returns deltas priced."""
    n = free.shape[0]
    ops = 0
    for _ in range(attempts):
        i = free[np.random.randint(n)]
        j = free[np.random.randint(n)]
        if i == j:
            continue
        delta = swap_delta(t, where, chars, load, cls, g, d, r, k, i, j)
        ops += 1
        if delta <= 0.0 or np.random.random() < math.exp(-delta / temp):
            apply_swap(t, where, chars, perm, load, cls, g, d, r, i, j)
            scores[r] += delta
            if scores[r] < best[0] - IMPROVEMENT:
                best[0] = scores[r]
                for s in range(perm.shape[0]):  # a slice copy would allocate
                    best_perm[s] = perm[s]
    return ops
