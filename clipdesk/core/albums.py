"""Smart albums: saved searches, run afresh each time, so they fill as the library grows.

An album is a name and a ``Query`` (text, negatives, "like this" and "not like this" images,
filters, and the cut-off as ``filters.min_score``: None = adaptive, a score = fixed,
``cutoff.SHOW_ALL`` = none), stored in the catalog (``Catalog.save_album`` and friends; the
SQL is there). An album with no text and no images is a browse: its filters' photos, newest
first. The command line and the app run albums through this module.
"""

from __future__ import annotations

from dataclasses import fields, replace

from clipdesk.core import browse, cutoff
from clipdesk.core.catalog import Catalog, album_name
from clipdesk.core.query import Filters, Query, describe_dates
from clipdesk.core.search import Hit, Searcher

__all__ = ["album_name", "describe", "refine", "run", "browse_photos"]


def describe(query: Query) -> str:
    """What an album asks, in one line: "“red car”, not “night”, in /photos/2024,
    2024-03-01 – 2024-03-31, auto cut-off"."""
    f = query.filters
    parts = [query.describe()] if not query.empty else ["all photos"]
    if f.folder is not None:
        parts.append(f"in {f.folder}")
    if f.after is not None or f.before is not None:
        parts.append(describe_dates(f.after, f.before))
    if f.media is not None:
        parts.append(f"{f.media} only")
    if not query.empty:
        parts.append(cutoff.describe_cutoff(f.min_score))
    return ", ".join(p for p in parts if p)


def refine(saved: Query, extra: Query) -> Query:
    """An album's query narrowed by more options (``clipdesk search --album NAME ...``): more
    text joins its text, more negatives and images join its own, a folder or media kind given
    replaces its own, dates narrow its range, and a cut-off given replaces the stored one.
    Generic over Query's tuple fields, so fields added later join too."""
    changes: dict = {}
    for f in fields(Query):
        old, new = getattr(saved, f.name), getattr(extra, f.name)
        if isinstance(old, tuple):
            changes[f.name] = old + tuple(v for v in new if v not in old)
    changes["text"] = " ".join(t for t in (saved.text, extra.text) if t)
    a, b = saved.filters, extra.filters

    def narrower(x, y, pick):
        return x if y is None else y if x is None else pick(x, y)

    changes["filters"] = Filters(
        folder=b.folder if b.folder is not None else a.folder,
        after=narrower(a.after, b.after, max), before=narrower(a.before, b.before, min),
        min_score=b.min_score if b.min_score is not None else a.min_score,
        media=b.media if b.media is not None else a.media)
    return replace(saved, **changes)


def run(searcher: Searcher, query: Query, n: int) -> list[Hit]:
    """The album's best ``n`` photos with its cut-off; an empty query browses (newest first;
    those hits score 0 and carry their date)."""
    if query.empty:
        return browse_photos(searcher.catalog, query.filters, n)
    return cutoff.answer(searcher, query, n)


def browse_photos(catalog: Catalog, filters: Filters, n: int) -> list[Hit]:
    """The newest ``n`` photos passing ``filters`` (``core.browse``, what the app shows for an
    empty query), as hits scoring 0."""
    found = browse.listing(catalog, filters)
    return [Hit(found.paths[i], 0.0, int(found.ids[i]), float(found.dates[i]), found.hashes[i])
            for i in range(min(n, len(found)))]
