"""Browsing: with nothing typed the window shows the library newest first under month
headers, with a date list to jump by; keys, selection and the preview keep to the photos; the
query's filters hold; it refreshes as photos arrive. Real libraries indexed with the random
tiny CLIP, real widgets; and 100,000 photos without a GUI-thread stall."""

from __future__ import annotations

import os
import time
from datetime import datetime
from pathlib import Path

import numpy as np
from PySide6.QtCore import QEvent, QPoint, QPointF, Qt, QTimer
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QApplication
from test_controllers import drain
from test_grid_scale import CPU_LIMIT_MS, WALL_LIMIT_MS, Meter, _thumbnails
from uihelpers import index_folder, shown_paths, type_query, wait_ready

import tinyclip
from clipdesk.core import browse
from clipdesk.core.library import Library
from clipdesk.core.query import Filters, Query
from clipdesk.ui.answers import Timeline
from clipdesk.ui.engine import ResultSet, SearchAnswer
from clipdesk.ui.searchcontrol import SearchController
from clipdesk.ui.settings import Settings

# (month, photos) newest first: three months, one in the year before
MONTHS = [((2026, 3), 9), ((2026, 2), 7), ((2025, 12), 5)]


def _dated_library(tmp_path: Path, model: str) -> tuple[Path, list[str]]:
    """A library of 21 photos whose file times fall in MONTHS (plus one that cannot be read);
    returns the library folder and the photos' paths newest first."""

    photos = tmp_path / "photos"
    paths = tinyclip.photo_folder(photos / "trip", 9, seed=1) + tinyclip.photo_folder(
        photos / "home", 12, seed=2)
    newest_first, at = [], 0
    for (year, month), count in MONTHS:
        for day in range(count):
            when = datetime(year, month, 20 - day, 12).timestamp()
            os.utime(paths[at], (when, when))
            newest_first.append(str(paths[at]))
            at += 1
    (photos / "home" / "broken.jpg").write_bytes(b"\xff\xd8 not a photo")
    report = index_folder(tmp_path / "library", photos, model)
    assert report.embedded == 21 and len(report.failed) == 1
    return tmp_path / "library", newest_first


def _browsing(qtbot, window, rows: int) -> None:
    qtbot.waitUntil(lambda: window.view.sections is not None
                    and window.model.rowCount() == rows, timeout=60_000)


def test_the_library_newest_first_under_month_headers_with_a_date_list(
        qtbot, open_window, tmp_path, random_model):
    folder, newest_first = _dated_library(tmp_path, random_model)
    window = open_window(folder, model=random_model)
    window.resize(900, 560)
    _browsing(qtbot, window, 21)
    view, model = window.view, window.model

    assert shown_paths(window) == newest_first  # the broken photo is not shown
    assert window.results_stack.currentWidget() is view
    assert window.count_label.text() == "21 photos"
    assert not window.sort_combo.isEnabled() and not window.cutoff.isEnabled()
    sections = view.sections
    assert [sections.label(i) for i in range(len(sections))] == [
        "March 2026 · 9 photos", "February 2026 · 7 photos", "December 2025 · 5 photos"]

    # each month starts a new line below its own header band; a header is no photo
    first_feb = view.visualRect(model.index(9))
    last_march = view.visualRect(model.index(8))
    assert first_feb.left() == 0
    assert first_feb.top() >= last_march.bottom() + view._header
    assert not view.indexAt(QPoint(20, first_feb.top() - view._header // 2)).isValid()
    assert view.indexAt(first_feb.center()).row() == 9

    def band_painted() -> bool:  # text pixels across the top band of the grid
        image = view.viewport().grab().toImage()
        return len({image.pixelColor(x, view._header // 2).rgb() for x in range(10, 200)}) > 2

    assert band_painted()  # March's header
    bar = view.verticalScrollBar()
    bar.setValue(int(view._tops[1]) + view._header + 40)  # inside February's first line
    assert band_painted()  # February's header, pinned at the top
    assert view.section_at_top() == 1
    assert not view.indexAt(QPoint(20, view._header // 2)).isValid()  # the band, not a photo

    # the date list: years and months; choosing December brings its header to the top
    dates = window.date_list
    assert dates.isVisible()
    assert [dates.item(i).text().strip() for i in range(dates.count())] == [
        "2026", "March", "February", "2025", "December"]
    assert bar.maximum() > 0
    december = dates.item(4)
    dates.scrollToItem(december)
    qtbot.mouseClick(dates.viewport(), Qt.MouseButton.LeftButton,
                     pos=dates.visualItemRect(december).center())
    assert bar.value() == min(int(view._tops[2]), bar.maximum())
    assert view.section_at_top() == 2 or bar.value() == bar.maximum()
    # scrolling the grid back marks the month at its top in the list
    bar.setValue(0)
    assert dates.currentItem().text().strip() == "March"


def test_keys_selection_and_preview_walk_the_photos_across_months(
        qtbot, open_window, tmp_path, random_model):
    folder, newest_first = _dated_library(tmp_path, random_model)
    window = open_window(folder, model=random_model)
    window.resize(900, 560)
    _browsing(qtbot, window, 21)
    view, model = window.view, window.model
    columns = view._columns
    assert 2 <= columns < 9  # March's 9 photos need two lines, the second partial
    view.setFocus()
    view.setCurrentIndex(model.index(0))

    def press(key, modifier=Qt.KeyboardModifier.NoModifier) -> int:
        qtbot.keyClick(view, key, modifier)
        return view.currentIndex().row()

    assert press(Qt.Key.Key_Down) == columns
    last_line_march = ((9 - 1) // columns) * columns
    view.setCurrentIndex(model.index(last_line_march))
    assert press(Qt.Key.Key_Down) == 9  # into February's first line, same column (0)
    assert press(Qt.Key.Key_Up) == last_line_march  # and back up to March's last line
    view.setCurrentIndex(model.index(8))
    assert press(Qt.Key.Key_Right) == 9  # the next photo, across the header
    assert press(Qt.Key.Key_Left) == 8
    assert press(Qt.Key.Key_End) == 20
    assert press(Qt.Key.Key_Home) == 0

    # Page Down moves about a screen on, Page Up comes back
    view.setCurrentIndex(model.index(0))
    down = press(Qt.Key.Key_PageDown)
    assert down >= columns and press(Qt.Key.Key_PageUp) == 0

    # Shift+Right across the header selects the photos in between, in order
    view.setCurrentIndex(model.index(7))
    press(Qt.Key.Key_Right, Qt.KeyboardModifier.ShiftModifier)
    press(Qt.Key.Key_Right, Qt.KeyboardModifier.ShiftModifier)
    assert sorted(i.row() for i in view.selectedIndexes()) == [7, 8, 9]
    assert [h.path for h in window.current_hits()] == newest_first[7:10]

    # a rubber band from March's header over two lines and two columns selects those photos
    view.verticalScrollBar().setValue(0)
    port = view.viewport()
    to = view.visualRect(model.index(columns + 1)).center()
    qtbot.mousePress(port, Qt.MouseButton.LeftButton, pos=QPoint(5, 5))
    for step in (0.3, 0.7, 1.0):
        at = QPointF(5 + (to.x() - 5) * step, 5 + (to.y() - 5) * step)
        QApplication.sendEvent(port, QMouseEvent(
            QEvent.Type.MouseMove, at, port.mapToGlobal(at), Qt.MouseButton.NoButton,
            Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier))
    assert not view._band.isNull()  # drawn while dragging
    qtbot.mouseRelease(port, Qt.MouseButton.LeftButton, pos=to)
    assert sorted(i.row() for i in view.selectedIndexes()) == [0, 1, columns, columns + 1]
    assert view._band.isNull()

    # the right-click menu acts on a photo, not on a header
    view.clearSelection()
    window.show_context_menu(QPoint(20, view._header // 2))  # March's header
    assert window.context_menu is None
    window.show_context_menu(view.visualRect(model.index(3)).center())
    assert window.context_menu is not None and window.current_paths() == [newest_first[3]]
    window.context_menu.close()

    # a click on a photo selects it; the preview opens on it and steps through the photos
    rect = view.visualRect(model.index(9))
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert [i.row() for i in view.selectedIndexes()] == [9]
    window.open_preview()
    qtbot.waitUntil(lambda: window.preview is not None and window.preview.isVisible())
    qtbot.keyClick(window.preview, Qt.Key.Key_Right)
    qtbot.waitUntil(lambda: view.currentIndex().row() == 10)
    assert model.hit(10).path == newest_first[10]
    window.preview.close()


def test_filters_photos_arriving_and_a_search_in_between(qtbot, open_window, tmp_path,
                                                         random_model):
    folder, newest_first = _dated_library(tmp_path, random_model)
    window = open_window(folder, model=random_model)
    window.resize(900, 560)
    _browsing(qtbot, window, 21)
    wait_ready(qtbot, window)
    view, model, bar = window.view, window.model, window.view.verticalScrollBar()

    # the folder filter (the sidebar's folder tree sets it): that folder and its subfolders
    trip = Path(newest_first[0]).parent
    with qtbot.waitSignal(window.engine.searchAnswered, timeout=30_000):
        window.search_bar.set_filters(Filters(folder=trip))
    assert shown_paths(window) == [p for p in newest_first if Path(p).parent == trip]
    with qtbot.waitSignal(window.engine.searchAnswered, timeout=30_000):
        window.search_bar.set_filters(Filters())
    assert model.rowCount() == 21

    # a photo arrives while the user looks at February: it joins on top, the view stays put
    bar.setValue(int(view._tops[1]))
    view.setCurrentIndex(model.index(12))
    looked_at, scroll = model.path_at(12), bar.value()
    new = tinyclip.photo_folder(trip, 1, seed=9, prefix="new")[0]
    when = datetime(2026, 3, 30, 9).timestamp()
    os.utime(new, (when, when))
    with qtbot.waitSignal(window.engine.searchAnswered, timeout=60_000):
        window.engine.index()
    qtbot.waitUntil(lambda: model.rowCount() == 22, timeout=60_000)
    assert model.path_at(0) == str(new)
    assert view.sections.label(0) == "March 2026 · 10 photos"
    assert model.path_at(view.currentIndex().row()) == looked_at
    assert bar.value() == scroll

    # a search shows results without headers; clearing it browses again
    type_query(qtbot, window, "a photo of a red circle")
    assert view.sections is None and not window.date_list.isVisible()
    assert window.sort_combo.isEnabled() and window.cutoff.isEnabled()
    assert window.model.sort in ("relevance", "date")
    with qtbot.waitSignal(window.engine.searchAnswered, timeout=30_000):
        window.clear_search()
    assert view.sections is not None and model.rowCount() == 22
    assert window.date_list.isVisible()

    # large tiles: a header per day, the photo at the top stays there
    bar.setValue(int(view._tops[1]) + view._header)
    top_row = view.indexAt(QPoint(5, view._header + 5)).row()
    window.settings.thumb_size = 224
    window._apply_tile_size()
    assert view.sections.unit == "day"
    assert view.indexAt(QPoint(5, view._header + 5)).row() == top_row

    # the folder leaves the library: its photos leave the grid
    with qtbot.waitSignal(window.engine.searchAnswered, timeout=30_000):
        window.engine.remove_folder(trip.parent)
    qtbot.waitUntil(lambda: model.rowCount() == 0, timeout=30_000)


def test_an_empty_library_browses_to_the_hint(qtbot, open_window, tmp_path, random_model):
    window = open_window(tmp_path / "empty", model=random_model)
    qtbot.waitUntil(lambda: window.timeline is not None, timeout=60_000)
    assert window.model.rowCount() == 0
    assert window.results_stack.currentWidget() is window.hint
    assert not window.date_list.isVisible()


def test_browsing_is_a_search_job_that_needs_no_model_and_drops_stale_listings(
        qtbot, library_copy, pools):
    library = Library(library_copy)
    control = SearchController(pools("search"), Settings())
    answers, waiting = [], []
    control.answered.connect(answers.append)
    control.waiting.connect(waiting.append)
    control.search(Query())  # the library is not open yet: it waits, without a word
    assert not waiting and not control.pool.running()
    control.set_library(library)
    with qtbot.waitSignal(control.answered, timeout=30_000):
        control.run_pending()
    assert control.searcher is None  # no model, no searcher: browsing does not need them
    listing = answers[0]
    assert listing.timeline is not None and len(listing.results) == 24
    assert list(listing.results.dates) == sorted(listing.results.dates, reverse=True)

    future = Query(filters=Filters(after=datetime(2999, 1, 1).timestamp()))
    with qtbot.waitSignal(control.answered, timeout=30_000):
        control.search(future)  # runs, and its answer is dropped...
        newest = control.search(Query())  # ...for the newest listing
    drain(control.pool)
    assert [a.query for a in answers[1:]] == [Query()]
    assert answers[-1].generation == newest and len(answers[-1].results) == 24

    # the window's first listing: asked when the library opens, if nothing else was asked
    fresh = SearchController(pools("search2"), Settings())
    fresh.set_library(library, Query())
    with qtbot.waitSignal(fresh.answered, timeout=30_000) as answered:
        fresh.run_pending()
    assert answered.args[0].timeline is not None
    library.close()


def _synthetic_browse(rows: int, keys: int) -> tuple[ResultSet, Timeline]:
    """``rows`` photos over 20 years, newest first, pointing at ``keys`` thumbnails."""
    rng = np.random.default_rng(0)
    dates = np.sort(rng.uniform(datetime(2006, 1, 1).timestamp(),
                                datetime(2026, 1, 1).timestamp(), rows))[::-1].copy()
    hashes = [f"{k:032x}" for k in np.arange(rows) % keys]
    results = ResultSet([f"/gone/IMG_{r}.jpg" for r in range(rows)], hashes,
                        np.arange(1, rows + 1, dtype=np.int64), np.zeros(rows, np.float32),
                        dates)
    return results, Timeline(browse.sections(dates, "month"), browse.sections(dates, "day"))


def test_browsing_100000_photos_never_stalls_the_gui_thread(qtbot, open_window, tmp_path):
    rows = 100_000
    thumbs = tmp_path / "thumbs"
    _thumbnails(thumbs, 300)
    window = open_window(tmp_path / "lib", start=False)
    window.pages.setCurrentWidget(window.browse_page)
    window.model.thumbnail_path = lambda h: thumbs / f"{h}.jpg"
    cache = window.loader.cache
    cache.max_bytes = 4 * 2**20
    results, timeline = _synthetic_browse(rows, 300)
    view, bar = window.view, window.view.verticalScrollBar()

    meter = Meter()
    meter.start()
    start = time.thread_time()
    window._on_answer(SearchAnswer(0, Query(), results, 0.0, "", timeline))
    opened = (time.thread_time() - start) * 1000
    assert window.model.rowCount() == rows and len(view.sections) == 240
    assert bar.maximum() == int(view._tops[-1]) - view.viewport().height()  # laid out at once
    qtbot.wait(200)
    open_late, open_cpu, _ = meter.stop()
    full = bar.maximum()  # the scroll bar's own width may have taken a column meanwhile
    assert full == int(view._tops[-1]) - view.viewport().height()

    meter.start()
    steps, done = 100, []

    def scroll() -> None:
        bar.setValue(full * len(done) // steps)
        done.append(bar.maximum())
        if len(done) <= steps:
            QTimer.singleShot(15, scroll)

    scroll()
    qtbot.waitUntil(lambda: len(done) > steps, timeout=60_000)
    qtbot.wait(300)
    late, cpu, ticks = meter.stop()
    last = view.indexAt(view.viewport().rect().center()).row()
    print(f"\nbrowse open: {opened:.1f} ms in _on_answer, late {open_late:.0f} ms, GUI CPU "
          f"{open_cpu:.1f} ms; scroll: late {late:.0f} ms, GUI CPU {cpu:.1f} ms, {ticks} ticks;"
          f" LRU {len(cache)} pixmaps {cache.bytes / 2**20:.1f} MiB")
    assert last > rows * 0.95, (last, bar.value(), full, int(view._tops[-1]), view._columns,
                                view.viewport().size())
    assert set(done) == {full}  # the scroll range never changed under the scrolling
    assert len(cache) > 10 and cache.bytes <= cache.max_bytes  # bounded by the LRU
    assert opened < CPU_LIMIT_MS and open_cpu < CPU_LIMIT_MS and cpu < CPU_LIMIT_MS
    assert open_late < WALL_LIMIT_MS and late < WALL_LIMIT_MS

    meter.start()  # jumping to a month is one scroll
    window._jump_to_row(int(timeline.months.starts[120]))
    qtbot.wait(100)
    jump_late, jump_cpu, _ = meter.stop()
    assert view.section_at_top() == 120
    assert jump_cpu < CPU_LIMIT_MS
