"""Corpus characters and n-grams compiled to index arrays, and the gram cost lookup.

Characters get indices ``0..C-1`` by falling frequency (ties by the character),
so a frequency tier is a prefix of the index range. Two pseudo-characters
follow: ``ZERO`` (always in slot 0, used with stride 0 as filler) and ``PAD``
(always in the pad slot, the third character of every bigram). A bigram and a
trigram are both a row of three characters, and the cost of a row is one
lookup in a (K+2)^3 table indexed ``(s1 * W + s2) * W + s3`` for slot width W.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from keyforge_shared.formats import KeycodeTable
from keyforge_shared.scoring.corpus import Corpus, folded_counts, top_grams
from keyforge_shared.scoring.costs import HAND_FINGER_CLASSES
from keyforge_shared.scoring.slots import NO_TIER, FloatArray, IntArray, Slots

WHITESPACE = frozenset(" \t\n")
# Above this many entries (K > 112) the (K+2)^3 table is not built and gram
# costs are assembled from their K^2 and class parts on every lookup instead.
DENSE_TABLE_MAX = 1_500_000


@dataclass(frozen=True)
class CharSet:
    chars: tuple[str, ...]
    index: dict[str, int]
    unigram_counts: IntArray
    tier: IntArray  # 0 high, 1 med, 2 low, NO_TIER for whitespace

    @property
    def zero(self) -> int:
        return len(self.chars)

    @property
    def pad(self) -> int:
        return len(self.chars) + 1


@dataclass(frozen=True)
class Grams:
    """Rows of three character indices with their raw counts."""

    chars: IntArray  # (n, 3)
    counts: IntArray


def typed_chars(keycodes: KeycodeTable) -> frozenset[str]:
    return frozenset(c for name in keycodes.by_name if (c := keycodes.char_of(name)) is not None)


def compile_chars(corpus: Corpus, keycodes: KeycodeTable, slots: Slots) -> CharSet:
    """The corpus characters some keycode types, most frequent first, with their tiers.

    Tiers follow frequency rank among non-whitespace characters: the first as
    many as there are prime slots are "high", the next as many as there are
    med slots "med", the rest "low". Whitespace has no tier: space and Enter
    live on thumbs and edge keys by convention, not by frequency.
    """
    typed = typed_chars(keycodes)
    unigrams = folded_counts(corpus.unigrams, 1, typed)
    seen = set(unigrams)
    for n, counts in ((2, corpus.bigrams), (3, corpus.trigrams)):
        for gram in folded_counts(counts, n, typed):
            seen.update(gram)
    chars = tuple(sorted(seen, key=lambda ch: (-unigrams.get(ch, 0), ch)))
    prime = int(np.count_nonzero(slots.tier == 0))
    med = int(np.count_nonzero(slots.tier == 1))
    tier = np.full(len(chars), NO_TIER, dtype=np.int64)
    rank = 0
    for i, ch in enumerate(chars):
        if ch in WHITESPACE:
            continue
        tier[i] = 0 if rank < prime else 1 if rank < prime + med else 2
        rank += 1
    unigram_counts = np.array([unigrams.get(ch, 0) for ch in chars], dtype=np.int64)
    return CharSet(chars, {ch: i for i, ch in enumerate(chars)}, unigram_counts, tier)


def compile_grams(
    counts: dict[str, int], n: int, charset: CharSet, keycodes: KeycodeTable, limit: int = 0
) -> Grams:
    folded = folded_counts(counts, n, typed_chars(keycodes))
    ranked = top_grams(folded, limit)
    rows = [[charset.index[ch] for ch in gram] + [charset.pad] * (3 - n) for gram, _ in ranked]
    return Grams(
        np.array(rows, dtype=np.int64).reshape(len(rows), 3),
        np.array([count for _, count in ranked], dtype=np.int64),
    )


@dataclass(frozen=True)
class GramCosts:
    """Cost of a row of three slots: bigram part, skipgram part, one-hand flow part.

    The three parts are added in that order both here and in the dense table,
    and adding an exact zero changes no bits, so both paths give equal floats.
    """

    width: int
    pad: int
    pairs: FloatArray  # (W * W * 2): [s1, s2, third slot is pad]
    skips: FloatArray  # (W * W): [s1, s3]
    flows: FloatArray  # (classes ** 3)
    classes: IntArray  # (W): hand-finger class of each slot
    dense: FloatArray | None  # (W ** 3) when small enough

    def rows(self, s1: IntArray, s2: IntArray, s3: IntArray) -> FloatArray:
        if self.dense is not None:
            return self.dense.take((s1 * self.width + s2) * self.width + s3)
        k = HAND_FINGER_CLASSES
        c = self.classes
        pair = self.pairs.take((s1 * self.width + s2) * 2 + (s3 == self.pad))
        skip = self.skips.take(s1 * self.width + s3)
        flow = self.flows.take((c.take(s1) * k + c.take(s2)) * k + c.take(s3))
        result: FloatArray = pair + skip + flow
        return result


def gram_costs(
    slots: Slots, pairs: FloatArray, skips: FloatArray, flows: FloatArray, classes: IntArray
) -> GramCosts:
    """Tables widened to K + 2 slots (absent and pad cost nothing), dense when small."""
    width, count = slots.width, slots.count
    wide_pairs = np.zeros((width, width, 2), dtype=np.float64)
    wide_pairs[:count, :count, 1] = pairs
    wide_skips = np.zeros((width, width), dtype=np.float64)
    wide_skips[:count, :count] = skips
    costs = GramCosts(
        width, slots.pad, wide_pairs.ravel(), wide_skips.ravel(), flows.ravel(), classes, None
    )
    if width**3 > DENSE_TABLE_MAX:
        return costs
    s1, s2, s3 = (a.ravel() for a in np.indices((width, width, width), dtype=np.int64))
    dense = costs.rows(s1, s2, s3)
    return GramCosts(width, slots.pad, costs.pairs, costs.skips, costs.flows, classes, dense)


@dataclass(frozen=True)
class CharGrams:
    """The scored rows holding one character, ready for a swap delta.

    A row's table index is ``base + coeff * slot_of_this_char`` where
    ``base = slot[first] * first_stride + slot[second] * second_stride``
    covers the row's other characters (ZERO with stride 0 where it has fewer).
    """

    rows: IntArray
    coeff: IntArray
    first: IntArray
    first_stride: IntArray
    second: IntArray
    second_stride: IntArray
    weight: FloatArray


def char_grams(chars: IntArray, weights: FloatArray, char: int, zero: int, width: int) -> CharGrams:
    strides = np.array([width * width, width, 1], dtype=np.int64)
    rows = np.flatnonzero((chars == char).any(axis=1))
    held = chars[rows]
    mine = held == char
    coeff = (mine * strides).sum(axis=1)
    # Stable sort puts the other characters' roles first, in role order.
    roles = np.argsort(mine, axis=1, kind="stable")
    at = np.arange(len(rows))
    parts = []
    for place in (0, 1):
        role = roles[:, place]
        filler = mine[at, role]
        parts.append(np.where(filler, zero, held[at, role]))
        parts.append(np.where(filler, 0, strides[role]))
    first, first_stride, second, second_stride = parts
    return CharGrams(rows, coeff, first, first_stride, second, second_stride, weights[rows].copy())
