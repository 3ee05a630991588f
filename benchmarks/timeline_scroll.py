"""Browsing 100,000 photos (the timeline: an empty query) against the search grid, in one run:
GUI-thread stalls while opening, scrolling end to end and jumping to months, memory, and the
listing query off the GUI thread.

    python benchmarks/timeline_scroll.py [--rows 100000] [--keys 4000] [--steps 1000]

Works offline, without a model. It opens the real main window (offscreen, 160-px tiles) the
way ``benchmarks/grid_scroll.py`` does, with the same cold thumbnails, and measures with the
same 5 ms heartbeat:

* baseline: the search grid (a plain uniform QListView) on ``--rows`` results;
* the timeline: the same rows as a browse answer, 20 years of dates, a header per month;
* the alternative not taken: header rows in the model, in a non-uniform QListView (full-width
  header items, Batched layout), which must ask a Python ``sizeHint`` for every row;
* the listing job (``core.browse.listing``) on a real catalog of ``--rows`` photos, median of
  5, against reading the same ids (``Catalog.ids_matching``) as the floor.

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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--keys", type=int, default=4000, help="distinct thumbnails")
    parser.add_argument("--steps", type=int, default=1000, help="scrollbar moves, top to bottom")
    parser.add_argument("--cache", type=Path, default=ROOT / "benchmarks" / ".cache")
    args = parser.parse_args()

    app, window, tmp = open_window(args.cache, args.keys, "timeline")
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
    print(f"listing job (search thread), {args.rows:,} photos: median {seconds * 1000:.0f} ms; "
          f"reading the same ids alone {floor * 1000:.0f} ms")
    print(f"memory: RSS {rss0:.0f} MiB before; peak while scrolling: search grid "
          f"{search_rss:.0f} MiB, timeline {browse_rss:.0f} MiB")
    window.loader.wait(5000)
    window.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
