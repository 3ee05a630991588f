"""A relevance cut-off that adapts to the query.

One flat score for every query cannot work: cosine scores sit on different scales for a
text query (ViT-B-32: ~0.3 for a match), an image query (~0.8 and up), a query with
negatives or one mixing a text and an image, and every model has a scale of its own. Within
one query, though, the photos that match stand apart from the rest: the scores of a library
against a query are a large body of non-matches with a smaller upper group of matches, often
with partial matches (the right colour, the wrong shape) in between.

``adaptive_cutoff`` looks for that upper group in ever smaller upper tails of the scores:
the top half, the top quarter, the top eighth... down to ``MIN_WINDOW`` scores. In each it
finds Otsu's split (the threshold that best divides the tail into two groups, on a histogram)
and how well it divides it (the between-group share of the variance: about 0.64 for a tail
with no second group in it, near 1 for two tight groups). The tail whose split is clearest
wins, with a handicap of ``SMALL_TAIL_HANDICAP / sqrt(size)`` so that a handful of scores
cannot look like two groups by chance. A small group of matches shows in a small tail, a
large one in a large tail, so no count of matches is assumed; with no group at all the split
falls in the last few dozen (the best photos are still shown).

``benchmarks/adaptive_cutoff.py`` measures it on the tests' trained tiny CLIP (and picked the
constants): on captions it equals the best flat threshold chosen with hindsight (F1 0.915
against 0.918); over captions, negatives, "like this" and mixed queries it beats it (0.80
against 0.69). O(n): the tails halve, each costs a partition and a histogram: 8 ms for
100,000 scores on a busy machine, where sorting them takes 15.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # search imports the encoder machinery; the cut-off itself needs numpy only
    from clipdesk.core.query import Query
    from clipdesk.core.search import Hit, Searcher

BINS = 256  # histogram resolution of a split (scores are stored as float16: ~3 digits)
MIN_WINDOW = 16  # the smallest tail examined; fewer scores than twice this: show them all
SMALL_TAIL_HANDICAP = 0.5  # a tail of n scores must divide 0.5/sqrt(n) more clearly


def _otsu(values: np.ndarray) -> tuple[float, float]:
    """(Otsu's threshold for ``values``, the share of their variance between the two sides).
    The threshold is the upper edge of the lower side's last bin: the top value passes."""
    lo, hi = float(values.min()), float(values.max())
    # np.histogram's work without its checks: a third of the time
    index = ((values - lo) * (BINS / (hi - lo))).astype(np.intp)
    counts = np.bincount(np.minimum(index, BINS - 1), minlength=BINS)
    edges = np.linspace(lo, hi, BINS + 1)
    centres = (edges[:-1] + edges[1:]) / 2
    weight_low = np.cumsum(counts)[:-1].astype(np.float64)
    weight_high = values.size - weight_low
    mass = np.cumsum(counts * centres)[:-1]
    total = float(mass[-1] + counts[-1] * centres[-1])
    valid = (weight_low > 0) & (weight_high > 0)
    mean_low = np.divide(mass, weight_low, out=np.zeros_like(mass), where=valid)
    mean_high = np.divide(total - mass, weight_high, out=np.zeros_like(mass), where=valid)
    between = np.where(valid, weight_low * weight_high * (mean_low - mean_high) ** 2, -1.0)
    best = int(np.argmax(between))
    share = between[best] / values.size**2 / max(float(values.var()), 1e-30)
    return float(edges[best + 1]), float(share)


def adaptive_cutoff(scores: np.ndarray) -> float | None:
    """The lowest score worth showing for one query, from the scores of the whole library
    (order does not matter; NaNs are ignored). None means show everything: too few scores to
    tell, or no spread among the best half. The best score always passes."""
    tail = np.asarray(scores, dtype=np.float32).ravel()
    tail = tail[np.isfinite(tail)]  # a copy: partitioned in place below
    best: tuple[float, float] | None = None  # (clearness less the handicap, threshold)
    while tail.size >= 2 * MIN_WINDOW:
        half = tail.size // 2
        tail.partition(half)
        tail = tail[half:]  # the upper half (a tie at the median may stay below)
        if float(tail[0]) >= float(tail.max()):  # no spread left to split
            break
        threshold, share = _otsu(tail)
        clearness = share - SMALL_TAIL_HANDICAP / np.sqrt(tail.size)
        if best is None or clearness > best[0]:
            best = (clearness, threshold)
    return None if best is None else best[1]


# ---------------------------------------------------------------------- the cut-off of a query

# A query's cut-off travels as its Filters.min_score, so a saved search (a smart album) keeps
# it and the app's slider and the CLI mean the same: None = adaptive (the default), a score =
# that fixed cut-off, SHOW_ALL = none at all (every cosine score is at least -1).
SHOW_ALL = -1.0
POOL = 10_000  # the adaptive cut-off is taken over (at most) this many best answers


def parse_cutoff(text: str) -> float | None:
    """``--cutoff``'s value as a min_score: "auto" -> None, "none" -> SHOW_ALL, a number ->
    itself. ValueError otherwise."""
    word = text.strip().lower()
    if word == "auto":
        return None
    if word in ("none", "all", "off"):
        return SHOW_ALL
    try:
        score = float(word)
    except ValueError:
        raise ValueError(f"not a cut-off: {text!r} (use auto, none or a score)") from None
    if not -1.0 <= score <= 1.0:
        raise ValueError(f"a cut-off score lies between -1 and 1, not {text}")
    return score


def describe_cutoff(min_score: float | None) -> str:
    """"auto cut-off", "no cut-off" or "score ≥ 0.25", for listings."""
    if min_score is None:
        return "auto cut-off"
    if min_score <= SHOW_ALL:
        return "no cut-off"
    return f"score ≥ {min_score:g}"


def answer(searcher: Searcher, query: Query, n: int) -> list[Hit]:
    """The best ``n`` photos for a query with its cut-off (``query.filters.min_score``): a
    fixed one or none is the searcher's, an adaptive one is taken over the ``POOL`` best
    answers (filters applied) and then applied."""
    if query.filters.min_score is not None:
        return searcher.answer(query, n)
    hits = searcher.answer(query, max(n, POOL))
    cut = adaptive_cutoff(np.fromiter((h.score for h in hits), np.float32, len(hits)))
    return [h for h in hits if cut is None or h.score >= cut][:n]
