"""Generate ``corpora/<name>/{1,2,3}grams.csv`` and ``words.txt`` from English word frequencies.

    .venv/bin/pip install -e '.[authoring]'
    .venv/bin/python -m tools.make_corpus [--out data/system/corpora/default]

Source: the ``wordfreq`` package from PyPI (version 3.x, its bundled English
"large" list, which blends Wikipedia, subtitles, news, books, web text and
social media; the data ships inside the wheel, nothing is downloaded). The
model of running text built from it:

* the top ``--words`` English words (letters and apostrophes only), each with
  its frequency scaled to a count per ``SCALE`` words;
* words separated by a space, after ``PERIOD_RATE`` of words by ". " and after
  ``COMMA_RATE`` by ", " (rough rates of English prose: about one sentence per
  fourteen words);
* n-grams inside a word are exact; n-grams across a word boundary assume that
  consecutive words are independent (the count of "e t" is the weight of words
  ending in "e" times the share of words starting with "t").

Counts are integers (the original's "raw counts" format); the files are
committed, so running the fleet or its tests never needs ``wordfreq``.
"""

from __future__ import annotations

import argparse
import csv
import io
from collections import defaultdict
from pathlib import Path

from wordfreq import top_n_list, word_frequency

SCALE = 1_000_000_000  # counts are per billion words
PERIOD_RATE = 1 / 14
COMMA_RATE = 1 / 16
TRIGRAM_LIMIT = 12_000
WORDS_LISTED = 10_000
LETTERS = set("abcdefghijklmnopqrstuvwxyz'")
REPO = Path(__file__).resolve().parents[1]


def weighted_words(count: int) -> dict[str, float]:
    words: dict[str, float] = {}
    for word in top_n_list("en", count, wordlist="large"):
        if word and set(word) <= LETTERS and not word.startswith("'"):
            words[word] = word_frequency(word, "en", wordlist="large") * SCALE
    return words


def separators() -> dict[str, float]:
    return {" ": 1 - PERIOD_RATE - COMMA_RATE, ". ": PERIOD_RATE, ", ": COMMA_RATE}


Weights = defaultdict[str, float]


def count_ngrams(words: dict[str, float]) -> list[Weights]:
    """[unigrams, bigrams, trigrams] as float weights, before rounding."""
    grams: list[Weights] = [defaultdict(float), defaultdict(float), defaultdict(float)]
    tails: Weights = defaultdict(float)
    heads: Weights = defaultdict(float)
    total = sum(words.values())
    for word, weight in words.items():
        for n in (1, 2, 3):
            for i in range(len(word) - n + 1):
                grams[n - 1][word[i : i + n]] += weight
        tails[word[-2:]] += weight
        heads[word[:2]] += weight
    for sep, share in separators().items():
        for char in sep:
            grams[0][char] += total * share
        for tail, tail_weight in tails.items():
            for head, head_weight in heads.items():
                weight = tail_weight * share * head_weight / total
                _count_boundary(grams, tail + sep + head, len(tail), len(tail) + len(sep), weight)
    return grams


def _count_boundary(
    grams: list[Weights], text: str, sep_start: int, sep_end: int, weight: float
) -> None:
    """n-grams of ``text`` that touch the separator (the rest were counted inside words)."""
    for n in (2, 3):
        for i in range(len(text) - n + 1):
            if i < sep_end and i + n > sep_start:
                grams[n - 1][text[i : i + n]] += weight


def ngram_csv(counts: Weights, n: int, limit: int | None = None) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([*(f"char{i + 1}" for i in range(n))] if n > 1 else ["char"])
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:limit]
    rows = [(gram, round(weight)) for gram, weight in ranked if weight >= 1]
    for gram, count in rows:
        writer.writerow([*gram, count])
    text = buffer.getvalue()
    header, _, body = text.partition("\n")
    return f"{header},freq\n{body}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "data/system/corpora/default")
    parser.add_argument("--words", type=int, default=50_000, help="how many top words to use")
    args = parser.parse_args()
    words = weighted_words(args.words)
    grams = count_ngrams(words)
    args.out.mkdir(parents=True, exist_ok=True)
    for n, counts in enumerate(grams, start=1):
        limit = TRIGRAM_LIMIT if n == 3 else None
        (args.out / f"{n}grams.csv").write_text(ngram_csv(counts, n, limit), encoding="utf-8")
    listed = sorted(words, key=lambda w: -words[w])[:WORDS_LISTED]
    (args.out / "words.txt").write_text("\n".join(listed) + "\n", encoding="utf-8")
    print(f"wrote {args.out} from {len(words)} words")


if __name__ == "__main__":
    main()
