"""Filter chips beside the search field, driven as a user does: the Filter menu's date presets,
a custom range in its dialog, the media kind, the sidebar's folder as a chip, each removed by
its ×; with the trained tiny CLIP on the indexed shapes (photos dated today, by their file
time)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path

from PySide6.QtCore import QDate
from uihelpers import answer_after, shown_paths, type_query, wait_ready

from clipdesk.core.query import Filters, date_preset, day_range
from clipdesk.ui.filterbar import FilterBar, chip_texts, folder_label


def _menu_action(bar: FilterBar, text: str):
    return next(a for a in bar.menu.actions() if a.text() == text)


def test_date_presets_and_their_chip_filter_a_search_and_the_x_removes_it(qtbot, open_window,
                                                                           library_copy):
    window = open_window(library_copy)
    wait_ready(qtbot, window)
    type_query(qtbot, window, "a photo of a red circle")
    assert window.model.rowCount() == 24
    bar = window.search_bar.filter_bar
    assert bar.button.isVisible() and bar.button.text() == "Filter" and not bar.chips

    answer = answer_after(qtbot, window, _menu_action(bar, "Last year").trigger)
    assert (answer.query.filters.after, answer.query.filters.before) == date_preset("last-year")
    assert answer.query.text == "a photo of a red circle"  # combined with the text
    assert window.model.rowCount() == 0  # the photos were made today
    chip = bar.chips["date"]
    assert chip.isVisible() and chip.text == "Last year"

    answer = answer_after(qtbot, window, _menu_action(bar, "Today").trigger)
    assert window.model.rowCount() == 24 and bar.chips["date"].text == "Today"
    assert window.search_bar.filters == answer.query.filters

    answer = answer_after(qtbot, window, bar.chips["date"].remove_button.click)
    assert not answer.query.filters.active and "date" not in bar.chips
    assert window.model.rowCount() == 24


def test_a_custom_range_from_the_dialog(qtbot, open_window, library_copy):
    window = open_window(library_copy)
    wait_ready(qtbot, window)
    type_query(qtbot, window, "a photo of a blue square")
    bar = window.search_bar.filter_bar
    _menu_action(bar, "Between dates…").trigger()
    dialog = bar.dialog
    qtbot.waitUntil(dialog.isVisible)
    yesterday, last_week = date.today() - timedelta(days=1), date.today() - timedelta(days=7)
    dialog.first_edit.setDate(QDate(yesterday.year, yesterday.month, yesterday.day))
    dialog.last_edit.setDate(QDate(last_week.year, last_week.month, last_week.day))  # reversed
    answer = answer_after(qtbot, window, dialog.accept)
    assert (answer.query.filters.after, answer.query.filters.before) == day_range(last_week,
                                                                                  yesterday)
    assert window.model.rowCount() == 0
    assert bar.chips["date"].text == f"{last_week.isoformat()} – {yesterday.isoformat()}"

    _menu_action(bar, "Between dates…").trigger()  # opens on the range shown
    assert bar.dialog.days() == (last_week, yesterday)
    bar.dialog.last_edit.setDate(QDate.currentDate())
    answer_after(qtbot, window, bar.dialog.accept)
    assert window.model.rowCount() == 24


def test_media_kind_chip_and_clear_filters(qtbot, open_window, library_copy):
    window = open_window(library_copy)
    wait_ready(qtbot, window)
    type_query(qtbot, window, "a photo of a green triangle")
    bar = window.search_bar.filter_bar
    answer = answer_after(qtbot, window, _menu_action(bar, "Videos").trigger)
    assert answer.query.filters.media == "video" and window.model.rowCount() == 0
    assert bar.chips["media"].text == "Videos" and bar.media_actions["video"].isChecked()
    answer = answer_after(qtbot, window, _menu_action(bar, "Photos").trigger)
    assert answer.query.filters.media == "photo" and window.model.rowCount() == 24
    assert not bar.media_actions["video"].isChecked()
    answer_after(qtbot, window, _menu_action(bar, "This year").trigger)
    assert [c.kind for c in bar.chip_widgets()] == ["date", "media"]
    answer = answer_after(qtbot, window, _menu_action(bar, "Clear filters").trigger)
    assert answer.query.filters == Filters() and not bar.chips and not bar.chip_widgets()


def test_the_sidebars_folder_shows_as_a_chip_that_removes_it(qtbot, open_window, library_copy,
                                                             shapes_folder):
    window = open_window(library_copy)
    wait_ready(qtbot, window)
    type_query(qtbot, window, "a photo of a red circle")
    bar = window.search_bar.filter_bar
    more = Path(shapes_folder) / "more"
    with qtbot.waitSignal(window.search_bar.filtersChanged) as changed:
        answer_after(qtbot, window, lambda: window.search_bar.set_filters(
            Filters(folder=more, media="photo")))
    assert changed.args[0].folder == more
    assert window.model.rowCount() == 12
    assert all(Path(p).parent == more for p in shown_paths(window))
    assert [c.kind for c in bar.chip_widgets()] == ["folder", "media"]  # folder first
    assert bar.chips["folder"].text == f"in {Path(shapes_folder).name}/more"
    answer = answer_after(qtbot, window, bar.chips["folder"].remove_button.click)
    assert answer.query.filters == Filters(media="photo")
    assert window.model.rowCount() == 24 and "folder" not in bar.chips


def test_chip_words(qtbot):
    now = datetime(2024, 6, 15, 12)
    after, before = date_preset("this-month", now)
    texts = chip_texts(Filters(folder=Path("/photos/Holidays/2024"), after=after, before=before,
                               media="raw"), presets_now=now)
    assert texts == {"folder": "in Holidays/2024", "date": "This month", "media": "RAW photos"}
    assert chip_texts(Filters(after=day_range(date(2024, 5, 2), date(2024, 5, 2))[0]),
                      presets_now=now) == {"date": "since 2024-05-02"}
    assert chip_texts(Filters(min_score=0.3)) == {}  # the cut-off is no chip
    assert folder_label(Path("/")) == "in /"
