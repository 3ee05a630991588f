"""Refinement in the window: selected photos become "like this" (More like these) or "not like
this" chips (Fewer like these) through the context menu, the Photo menu and the shortcuts;
the photos refined away leave the results and their kind moves down; the trained tiny CLIP."""

from __future__ import annotations

from PySide6.QtCore import QItemSelectionModel, QPoint, Qt
from PySide6.QtGui import QContextMenuEvent
from PySide6.QtWidgets import QApplication
from uihelpers import answer_after, photo_class, shown_paths, type_query, wait_ready

from clipdesk.ui.searchbar import NEGATIVE_BORDER


def _select(window, rows: list[int]) -> None:
    selection = window.view.selectionModel()
    selection.clearSelection()
    for row in rows:
        selection.select(window.model.index(row), QItemSelectionModel.SelectionFlag.Select)
    window.view.setFocus()


def test_fewer_like_these_pushes_the_kind_down_and_hides_the_photos(qtbot, open_window,
                                                                      library_copy):
    window = open_window(library_copy)
    wait_ready(qtbot, window)
    type_query(qtbot, window, "a photo of a red circle")
    paths = shown_paths(window)
    runner_up = next(i for i, p in enumerate(paths) if photo_class(p) != "red-circle")
    kind = photo_class(paths[runner_up])
    sibling = next(p for p in paths if photo_class(p) == kind and p != paths[runner_up])
    before = paths.index(sibling)

    _select(window, [runner_up])
    assert window.fewer_action.shortcut().toString() == "Ctrl+Shift+N"
    answer = answer_after(qtbot, window, lambda: qtbot.keyClick(
        window.view, Qt.Key.Key_N,
        Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier))
    assert answer.query.negative_images == (paths[runner_up],)
    assert answer.query.text == "a photo of a red circle" and answer.query.images == ()
    shown = shown_paths(window)
    assert paths[runner_up] not in shown and len(shown) == 23
    assert shown.index(sibling) > before
    assert "not like this image" in window.count_label.text()

    chip = window.search_bar.chip_for(paths[runner_up])
    assert chip is not None and chip.isVisible() and chip.negative
    assert chip.label.text() == "not like" and chip.objectName() == "negativeChip"
    assert NEGATIVE_BORDER in chip.styleSheet()

    answer = answer_after(qtbot, window, chip.remove_button.click)  # × takes it back
    assert answer.query.negative_images == () and len(shown_paths(window)) == 24


def test_more_like_these_from_the_context_menu_keeps_the_text(qtbot, open_window,
                                                               library_copy):
    window = open_window(library_copy)
    wait_ready(qtbot, window)
    type_query(qtbot, window, "a photo of a circle")
    paths = shown_paths(window)
    yellow = [i for i, p in enumerate(paths) if photo_class(p) == "yellow-circle"]
    _select(window, yellow[:1])
    view = window.view
    pos: QPoint = view.visualRect(window.model.index(yellow[0])).center()
    QApplication.sendEvent(view.viewport(), QContextMenuEvent(
        QContextMenuEvent.Reason.Mouse, pos, view.viewport().mapToGlobal(pos)))
    menu = window.context_menu
    qtbot.waitUntil(menu.isVisible)
    texts = [a.text().replace("&", "") for a in menu.actions() if not a.isSeparator()]
    assert texts[:3] == ["Find similar", "More like these", "Fewer like these"]
    more = next(a for a in menu.actions() if a.text().replace("&", "") == "More like these")
    answer = answer_after(qtbot, window, more.trigger)
    menu.close()
    assert answer.query.text == "a photo of a circle"
    assert answer.query.images == (paths[yellow[0]],)
    shown = shown_paths(window)
    assert paths[yellow[0]] not in shown  # the photo itself is left out, as Find similar does
    assert photo_class(shown[0]) == "yellow-circle"
    chip = window.search_bar.chip_for(paths[yellow[0]])
    assert chip is not None and not chip.negative and chip.label.text() == "like this"

    # the same photo refined the other way turns its chip around
    window.search_bar.add_image(paths[yellow[0]], negative=True, search=False)
    query = window.search_bar.query()
    assert query.images == () and query.negative_images == (paths[yellow[0]],)
    assert len(window.search_bar.chips) == 1


def test_escape_in_the_field_clears_the_search_but_keeps_the_filters(qtbot, open_window,
                                                                     library_copy):
    from clipdesk.core.query import Filters

    window = open_window(library_copy)
    wait_ready(qtbot, window)
    window.search_bar.set_filters(Filters(media="photo"), search=False)
    type_query(qtbot, window, "a photo of a red circle")
    _select(window, [0])
    window.refine(True)
    assert window.search_bar.chips
    field = window.search_bar.field
    field.setFocus()
    with qtbot.waitSignal(window.search_bar.searchRequested) as asked:
        qtbot.keyClick(field, Qt.Key.Key_Escape)
    query = asked.args[0]
    assert query.empty and query.negative_images == () and field.text() == ""
    assert not window.search_bar.chips and query.filters == Filters(media="photo")


def test_while_browsing_fewer_like_these_explains_and_more_like_these_searches(
        qtbot, open_window, library_copy):
    window = open_window(library_copy)
    wait_ready(qtbot, window)
    qtbot.waitUntil(lambda: window.model.rowCount() == 24, timeout=30_000)  # the library
    assert window.search_bar.query().empty
    _select(window, [0])
    window.fewer_action.trigger()
    assert window.search_bar.chips == []
    assert "Fewer like these refines a search" in window.statusBar().currentMessage()
    photo = window.model.hit(0).path
    answer = answer_after(qtbot, window, window.more_action.trigger)
    assert answer.query.images == (photo,) and answer.results.paths[0] != photo
    assert photo_class(answer.results.paths[0]) == photo_class(photo)
