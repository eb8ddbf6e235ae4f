"""A corpus as the scorer reads it: 1-, 2- and 3-gram counts."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from keyforge_shared.formats import parse_ngrams


@dataclass(frozen=True)
class Corpus:
    """Raw counts keyed by the n-character string, as ``formats.parse_ngrams`` returns them."""

    unigrams: Mapping[str, int]
    bigrams: Mapping[str, int]
    trigrams: Mapping[str, int]


def load_corpus(unigrams: bytes | str, bigrams: bytes | str, trigrams: bytes | str) -> Corpus:
    """A corpus from the bytes of ``1grams.csv``, ``2grams.csv`` and ``3grams.csv``."""
    return Corpus(parse_ngrams(unigrams, 1), parse_ngrams(bigrams, 2), parse_ngrams(trigrams, 3))


def folded_counts(counts: Mapping[str, int], n: int, typed: frozenset[str]) -> dict[str, int]:
    """Counts with upper case folded onto lower case, keeping only n-grams every key can type.

    A keycode types its lower-case character; shift is not modelled, so "The"
    costs what "the" costs. Grams are visited in sorted order so that equal
    corpora give equal dicts whatever order their files listed them in.
    """
    folded: dict[str, int] = {}
    for gram in sorted(counts):
        lower = gram.lower()
        if len(lower) != n or any(ch not in typed for ch in lower):
            continue
        folded[lower] = folded.get(lower, 0) + counts[gram]
    return folded


def top_grams(counts: Mapping[str, int], limit: int) -> list[tuple[str, int]]:
    """The most frequent grams first, ties broken by the gram itself; ``limit`` 0 keeps all."""
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return ranked[:limit] if limit > 0 else ranked
