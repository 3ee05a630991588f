"""Browsing 100,000 photos (the timeline: an empty query) against the search grid, in one run:
GUI-thread stalls while opening, scrolling end to end and jumping to months, memory, the
listing query off the GUI thread, and a query typed while a listing runs.

    python benchmarks/timeline_scroll.py [--rows 100000] [--keys 4000] [--steps 1000]
        [--repeats 9] [--typed-after 20] [--typing-only]

Works offline, without a model. It opens the real main window (offscreen, 160-px tiles) the
way ``benchmarks/grid_scroll.py`` does, with the same cold thumbnails, and measures with the
same 5 ms heartbeat:

* baseline: the search grid (a plain uniform QListView) on ``--rows`` results;
* the timeline: the same rows as a browse answer, 20 years of dates, a header per month;
* the alternative not taken: header rows in the model, in a non-uniform QListView (full-width
  header items, Batched layout), which must ask a Python ``sizeHint`` for every row;
* the listing job (``core.browse.listing``) on a real catalog of ``--rows`` photos, median of
  5, against reading the same ids (``Catalog.ids_matching``) as the floor;
* typing while the library is listed (``typing_figures``; ``--typing-only`` runs just this):
  the window's engine on a real catalog of ``--rows`` photos with stored 512-d vectors and
  their i8 index, a stub text encoder (no model: the real text tower adds the same ~10 ms to
  every figure). From the query reaching the engine (the search bar's 300 ms debounce fired)
  to its first answer on screen (the window's ``_on_answer`` done), median of ``--repeats``:
  with nothing else running (the baseline), and asked ``--typed-after`` ms after a listing
  was; then a listing asked as long after another (a folder chosen twice fast) to its answer
  on screen, against a listing alone. With the app's engine as it is, and, where the code has
  a browse pool, with listings and queries sharing the search thread. Run it against the code
  before a change from a worktree of that commit (``benchmarks/README.md``).

Target: no heartbeat tick late by 50 ms or more on the GUI thread, memory bounded by the
thumbnail LRU.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402
from grid_scroll import (  # noqa: E402
    Heartbeat,
    fabricate,
    line,
    open_answer,
    open_window,
    rss_mb,
    scroll_end_to_end,
    spin,
)


def browse_answer(rows: int, keys: int):
    """``rows`` photos over 20 years, newest first, as the browse job hands them over."""
    from clipdesk.core import browse
    from clipdesk.core.query import Query
    from clipdesk.ui.answers import Timeline
    from clipdesk.ui.engine import SearchAnswer

    results = fabricate(rows, keys, 0)
    rng = np.random.default_rng(0)
    results.dates = np.sort(rng.uniform(datetime(2006, 1, 1).timestamp(),
                                        datetime(2026, 1, 1).timestamp(), rows))[::-1].copy()
    results.scores = np.zeros(rows, np.float32)
    timeline = Timeline(browse.sections(results.dates, "month"),
                        browse.sections(results.dates, "day"))
    return SearchAnswer(0, Query(), results, 0.0, "", timeline)


def open_browse(app, window, answer, beat: Heartbeat) -> dict:
    beat.start()
    t0 = time.perf_counter()
    window._on_answer(answer)
    shown = time.perf_counter() - t0
    spin(app, 0.5)
    out = beat.stop()
    out.update(call_ms=shown * 1000, layout_s=shown)
    return out


def jump_months(app, window, answer, beat: Heartbeat, jumps: int = 40) -> dict:
    """Choose ``jumps`` months at random in the date list, one every 100 ms."""
    rng = np.random.default_rng(1)
    months = answer.timeline.months
    beat.start()
    for i in rng.integers(0, len(months), jumps):
        window._jump_to_row(int(months.starts[i]))
        spin(app, 0.1)
        assert window.view.section_at_top() == window.view.sections.section_of(
            int(months.starts[i])) or window.view.verticalScrollBar().value() == \
            window.view.verticalScrollBar().maximum()
    return beat.stop()


def header_rows_alternative(app, rows: int, sections, beat: Heartbeat) -> dict:
    """Header rows as model rows in a non-uniform, batched QListView (the design not taken)."""
    from PySide6.QtCore import QAbstractListModel, QModelIndex, QSize, Qt
    from PySide6.QtWidgets import QListView, QStyledItemDelegate

    heads = set((sections.starts + np.arange(len(sections))).tolist())
    total = rows + len(sections)

    class Model(QAbstractListModel):
        def rowCount(self, parent=QModelIndex()):  # noqa: B008
            return 0 if parent.isValid() else total

        def data(self, index, role=Qt.ItemDataRole.DisplayRole):
            return None

    class Delegate(QStyledItemDelegate):
        def __init__(self, view):
            super().__init__(view)
            self.view = view

        def sizeHint(self, option, index):
            if index.row() in heads:
                return QSize(self.view.viewport().width() - 2, 30)
            return QSize(172, 190)

        def paint(self, painter, option, index):
            painter.fillRect(option.rect.adjusted(8, 8, -8, -8), Qt.GlobalColor.lightGray)

    view = QListView()
    view.setFlow(QListView.Flow.LeftToRight)
    view.setWrapping(True)
    view.setResizeMode(QListView.ResizeMode.Adjust)
    view.setLayoutMode(QListView.LayoutMode.Batched)
    view.setBatchSize(2000)
    view.setItemDelegate(Delegate(view))
    view.setVerticalScrollMode(QListView.ScrollMode.ScrollPerPixel)  # as the grid scrolls
    view.resize(1000, 700)
    view.show()
    spin(app, 0.3)
    model = Model()
    bar = view.verticalScrollBar()
    beat.start()
    t0 = time.perf_counter()
    view.setModel(model)
    columns = max(1, view.viewport().width() // 172)
    lines = int(((sections.counts + columns - 1) // columns).sum())
    expected = lines * 190 + len(sections) * 30 - view.viewport().height()
    spin(app, 120, until=lambda: bar.maximum() >= 0.95 * expected)
    laid = time.perf_counter() - t0
    spin(app, 0.5)
    out = beat.stop()
    out.update(layout_s=laid, complete=bar.maximum() >= 0.95 * expected,
               reached=bar.maximum(), expected=expected)
    view.close()
    return out


def listing_figures(rows: int, folder: Path) -> tuple[float, float]:
    """Median seconds of ``browse.listing`` and of ``ids_matching`` (all ids) on a catalog of
    ``rows`` photos."""
    from clipdesk.core import browse
    from clipdesk.core.catalog import Catalog
    from clipdesk.core.scan import FoundFile

    catalog = Catalog(folder)
    root = Path("/bench/photos")
    rid = catalog.add_root(root)
    rng = np.random.default_rng(2)
    stamps = rng.uniform(datetime(2006, 1, 1).timestamp(), datetime(2026, 1, 1).timestamp(),
                         rows)
    found = {str(root / f"{i // 1000:03d}" / f"IMG_{i:06d}.jpg"): None for i in range(rows)}
    found = {p: FoundFile(p, 1000, int(stamps[i] * 1e9)) for i, p in enumerate(found)}
    catalog.record_scan(rid, found, {}, [])
    listing, floor = [], []
    for _ in range(5):
        t0 = time.perf_counter()
        got = browse.listing(catalog)
        listing.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        ids = catalog.ids_matching(None, None, None, rows + 1)
        floor.append(time.perf_counter() - t0)
    assert len(got) == rows and len(ids) == rows
    catalog.close()
    return statistics.median(listing), statistics.median(floor)


class StubEncoder:
    """A text encoder that costs nothing: a fixed random unit vector per text."""

    def __init__(self, dim: int):
        self.dim = dim

    def encode_texts(self, texts: list[str]) -> np.ndarray:
        out = []
        for text in texts:
            v = np.random.default_rng(abs(hash(text)) % 2**32).standard_normal(self.dim)
            out.append((v / np.linalg.norm(v)).astype(np.float32))
        return np.stack(out)


class _Library:
    """What ``Searcher`` and the browse job need of a Library: the catalog and the index."""

    def __init__(self, catalog, index):
        self.catalog = catalog
        self._index = index

    def vectors(self, _model):
        return self._index


def typing_library(rows: int, folder: Path, dim: int = 512):
    """A catalog of ``rows`` indexed photos over 20 years with stored ``dim``-d vectors, and
    their i8 index (searched exactly below EXACT_BELOW, so a cheap graph), re-scoring from the
    catalog as a library's. Returns (library stand-in, model row)."""
    import functools

    from clipdesk.core.catalog import Catalog
    from clipdesk.core.vectors import Index, VectorIndex  # usearch after onnxruntime

    t = time.perf_counter()
    catalog = Catalog(folder)
    model = catalog.model("benchmark-model", dim)
    rng = np.random.default_rng(3)
    stamps = rng.uniform(datetime(2006, 1, 1).timestamp(), datetime(2026, 1, 1).timestamp(),
                         rows)
    vectors = rng.standard_normal((rows, dim)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    with catalog.write(changes_vectors=False) as db:
        db.execute("INSERT INTO roots (id, path, added_at) VALUES (1, '/bench/photos', 0)")
        db.executemany(
            "INSERT INTO files (id, root_id, path, size, mtime_ns, hash, taken_at, status,"
            " updated_at) VALUES (?, 1, ?, 3000000, ?, ?, ?, 'ok', 0)",
            ((i + 1, f"/bench/photos/{i // 1000:03d}/IMG_{i:06d}.jpg", int(stamps[i] * 1e9),
              f"{i + 1:064x}", float(stamps[i])) for i in range(rows)))
        half = vectors.astype(np.float16)
        db.executemany("INSERT INTO embeddings (model_id, hash, vector) VALUES (?, ?, ?)",
                       ((model.id, f"{i + 1:064x}", half[i].tobytes()) for i in range(rows)))
    raw = Index(ndim=dim, metric="cos", dtype="i8", connectivity=8, expansion_add=16)
    raw.add(np.arange(1, rows + 1, dtype=np.uint64), vectors)
    index = VectorIndex(dim, raw)
    index.stored = functools.partial(catalog.stored_vectors, model)
    print(f"  made {rows:,} photos with stored vectors and their index in "
          f"{time.perf_counter() - t:.0f} s", flush=True)
    return _Library(catalog, index), model


def typing_figures(app, window, rows: int, folder: Path, repeats: int,
                   after_ms: float) -> None:
    """Print the median ms from a query (or a listing) reaching the engine to its first
    answer on screen: alone, and asked ``after_ms`` after a listing."""
    from clipdesk.core.query import Filters, Query
    from clipdesk.core.search import Searcher
    from clipdesk.ui.searchcontrol import SearchController

    library, model = typing_library(rows, folder)
    engine = window.engine
    searcher = Searcher(library, model, lambda: StubEncoder(model.dim))

    def prepare(control) -> None:
        control.library = library
        control.searcher = searcher
        control.search_spec = model.spec

    controls = {"the engine as it is": engine.search_control}
    if hasattr(engine, "browse_pool"):  # the same thread for both, as before the browse pool
        shared = SearchController(engine.search_pool, engine.settings, engine.gens)
        shared.answered.connect(engine.searchAnswered)
        controls["listings on the search thread (stopped when stale)"] = shared
    for control in controls.values():
        prepare(control)
    pools = [p for p in (engine.search_pool, getattr(engine, "browse_pool", None)) if p]
    shown: dict[int, float] = {}

    def on_shown(answer) -> None:  # connected after the window's _on_answer: it has run
        shown.setdefault(answer.generation, time.perf_counter())

    engine.searchAnswered.connect(on_shown)

    def idle() -> None:  # nothing left running: the jobs, their answers, the tiles they asked
        for pool in pools:
            pool.wait(60_000)
        spin(app, 0.05)
        window.loader.wait(5000)
        spin(app, 0.05)

    def first_shown(control, query, after: Query | None) -> float:
        """ms from ``query`` asked (``after_ms`` after ``after``, when given) to its first
        answer on screen."""
        idle()
        if after is not None:
            control.search(after)
            spin(app, after_ms / 1000)
        t0 = time.perf_counter()
        gen = control.search(query)
        spin(app, 30, until=lambda: gen in shown)
        assert gen in shown, "no answer in 30 s"
        return (shown[gen] - t0) * 1000

    folder_a = Query(filters=Filters(folder=Path("/bench/photos")))
    cases = [
        ("query alone (baseline)", None, "typed"),
        (f"query {after_ms:.0f} ms after a listing", Query(), "typed"),
        ("listing alone (baseline)", None, Query()),
        (f"listing {after_ms:.0f} ms after another", folder_a, Query()),
    ]
    print(f"typing while listing, {rows:,} photos; ms to the first answer on screen, median "
          f"of {repeats} (min-max):")
    for name, control in controls.items():
        print(f"  {name}:")
        for label, after, what in cases:
            times = []
            for r in range(repeats):
                query = Query(f"photo number {r} {label}") if what == "typed" else what
                times.append(first_shown(control, query, after))
            print(f"    {label:34s} {statistics.median(times):7.1f}   "
                  f"({min(times):.1f}-{max(times):.1f})", flush=True)
    idle()
    engine.searchAnswered.disconnect(on_shown)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--keys", type=int, default=4000, help="distinct thumbnails")
    parser.add_argument("--steps", type=int, default=1000, help="scrollbar moves, top to bottom")
    parser.add_argument("--cache", type=Path, default=ROOT / "benchmarks" / ".cache")
    parser.add_argument("--repeats", type=int, default=9, help="typing while listing")
    parser.add_argument("--typed-after", type=float, default=20.0,
                        help="ms from a listing asked to the query typed")
    parser.add_argument("--typing-only", action="store_true",
                        help="only the typing-while-listing figures")
    args = parser.parse_args()

    app, window, tmp = open_window(args.cache, args.keys, "timeline")
    print(f"code: {ROOT}")
    if args.typing_only:
        typing_figures(app, window, args.rows, tmp / "typing", args.repeats, args.typed_after)
        window.loader.wait(5000)
        window.close()
        return 0
    beat = Heartbeat()
    beat.start()
    spin(app, 2.0)
    line("idle window, 2 s", beat.stop())
    rss0 = rss_mb()
    cache = window.loader.cache

    print(f"search grid (baseline), {args.rows:,} results:")
    m = open_answer(app, window, fabricate(args.rows, args.keys, 0), beat)
    line("  open", m, f"  (_on_answer {m['call_ms']:.0f} ms, layout done in {m['layout_s']:.1f} s)")
    m = scroll_end_to_end(app, window, beat, args.steps)
    line("  scroll end to end, cold", m, f"  ({m['seconds']:.1f} s, ended at row {m['last_row']:,};"
                                         f" RSS peak {m['peak_rss']:.0f} MiB)")
    search_rss = m["peak_rss"]

    answer = browse_answer(args.rows, args.keys)
    months = answer.timeline.months
    print(f"timeline, {args.rows:,} photos in {len(months)} months:")
    m = open_browse(app, window, answer, beat)
    line("  open", m, f"  (_on_answer {m['call_ms']:.0f} ms, laid out at once)")
    m = scroll_end_to_end(app, window, beat, args.steps)
    line("  scroll end to end, cold", m, f"  ({m['seconds']:.1f} s, ended at row {m['last_row']:,};"
                                         f" RSS peak {m['peak_rss']:.0f} MiB)")
    browse_rss = m["peak_rss"]
    m = jump_months(app, window, answer, beat)
    line("  40 jumps to a month", m)
    print(f"  pixmap LRU {len(cache)} pixmaps, {cache.bytes / 2**20:.0f} MiB "
          f"(limit {cache.max_bytes / 2**20:.0f} MiB)")

    from clipdesk.ui.engine import ResultSet

    window.model.set_results(ResultSet.empty())
    window.view.set_sections(None)
    spin(app, 0.3)
    print("alternative not taken: header rows in a non-uniform QListView (Batched):")
    m = header_rows_alternative(app, args.rows, months, beat)
    line("  open and lay out", m, f"  (layout {'done' if m['complete'] else 'NOT done'} in "
                                  f"{m['layout_s']:.1f} s)")

    seconds, floor = listing_figures(args.rows, tmp / "listing")
    print(f"listing job (browse thread), {args.rows:,} photos: median {seconds * 1000:.0f} ms; "
          f"reading the same ids alone {floor * 1000:.0f} ms")
    print(f"memory: RSS {rss0:.0f} MiB before; peak while scrolling: search grid "
          f"{search_rss:.0f} MiB, timeline {browse_rss:.0f} MiB")
    typing_figures(app, window, args.rows, tmp / "typing", args.repeats, args.typed_after)
    window.loader.wait(5000)
    window.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
