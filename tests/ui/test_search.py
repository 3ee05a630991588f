"""Searching through the window as a user does: typing, negatives, Find similar, pasted and
dropped images, sorting, the cut-off and zoom; with the trained tiny CLIP, so ranking counts."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QContextMenuEvent, QImage, QWheelEvent
from PySide6.QtWidgets import QApplication
from uihelpers import drop, photo_class, shown_paths, type_query, wait_ready

import tinyclip


def test_window_title_and_a_typed_query_ranks_the_right_photos_first(qtbot, open_window,
                                                                      library_copy):
    window = open_window(library_copy)
    assert window.windowTitle() == "ClipDesk"
    wait_ready(qtbot, window)
    type_query(qtbot, window, "a photo of a red circle")
    assert [photo_class(p) for p in shown_paths(window, 2)] == ["red-circle", "red-circle"]
    assert window.model.rowCount() == 24
    assert "24 photos" in window.count_label.text()
    type_query(qtbot, window, "a photo of a blue triangle")  # selectAll + typing replaces
    assert [photo_class(p) for p in shown_paths(window, 2)] == ["blue-triangle"] * 2


def test_a_query_typed_before_the_model_is_ready_runs_when_it_is(qtbot, open_window,
                                                                   library_copy):
    window = open_window(library_copy, start=False)
    window.search_bar.set_text("a photo of a yellow square")  # the model is not even loading
    with qtbot.waitSignal(window.engine.searchAnswered, timeout=60_000) as answered:
        window.engine.start()
    assert answered.args[0].query.text == "a photo of a yellow square"
    assert photo_class(shown_paths(window, 1)[0]) == "yellow-square"


def test_a_minus_word_is_a_negative_term(qtbot, open_window, library_copy):
    window = open_window(library_copy)
    wait_ready(qtbot, window)
    type_query(qtbot, window, "a photo of a red circle")
    before = [photo_class(p) for p in shown_paths(window)].index("red-square")
    type_query(qtbot, window, 'a photo of a red circle -"a photo of a red square"')
    answer = window.last_answer
    assert answer.query.negatives == ("a photo of a red square",)
    after = [photo_class(p) for p in shown_paths(window)].index("red-square")
    assert after > before


def _context_menu(qtbot, window, row: int):
    view = window.view
    rect = view.visualRect(window.model.index(row))
    pos = rect.center()
    event = QContextMenuEvent(QContextMenuEvent.Reason.Mouse, pos, view.viewport().mapToGlobal(pos))
    QApplication.sendEvent(view.viewport(), event)
    qtbot.waitUntil(lambda: window.context_menu is not None and window.context_menu.isVisible())
    return window.context_menu


def test_right_click_find_similar(qtbot, open_window, library_copy, shapes_folder):
    window = open_window(library_copy)
    wait_ready(qtbot, window)
    type_query(qtbot, window, "a photo of a green triangle")
    first = shown_paths(window, 1)[0]
    assert photo_class(first) == "green-triangle"
    menu = _context_menu(qtbot, window, 0)
    texts = [a.text().replace("&", "") for a in menu.actions() if not a.isSeparator()]
    assert texts[:1] == ["Find similar"]
    assert {"Open", "Show in folder", "Copy path", "Copy image", "Tags", "Preview"} <= set(texts)
    similar = next(a for a in menu.actions() if a.text().replace("&", "") == "Find similar")
    assert similar.shortcut().toString() == "Ctrl+Shift+F"
    with qtbot.waitSignal(window.engine.searchAnswered, timeout=30_000):
        similar.trigger()
    menu.close()
    chip = window.search_bar.chip_for(first)
    assert chip is not None and chip.isVisible()
    assert window.search_bar.field.text() == ""
    paths = shown_paths(window)
    assert first not in paths  # the photo itself is left out
    assert photo_class(paths[0]) == "green-triangle"


def test_find_similar_by_keyboard_shortcut_with_the_grid_focused(qtbot, open_window,
                                                                   library_copy):
    window = open_window(library_copy)
    wait_ready(qtbot, window)
    type_query(qtbot, window, "a photo of a blue square")
    window.view.setFocus()
    window.view.setCurrentIndex(window.model.index(0))
    first = shown_paths(window, 1)[0]
    with qtbot.waitSignal(window.engine.searchAnswered, timeout=30_000):
        qtbot.keyClick(window.view, Qt.Key.Key_F,
                       Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    assert window.last_answer.query.images == (first,)
    assert photo_class(shown_paths(window, 1)[0]) == "blue-square"


def _shape_image(color: str, shape: str, seed: int = 7) -> QImage:
    pil = tinyclip.draw_shape(color, shape, np.random.default_rng(seed), size=(300, 260))
    data = pil.tobytes("raw", "RGB")
    image = QImage(data, pil.width, pil.height, 3 * pil.width, QImage.Format.Format_RGB888)
    return image.copy()


def test_pasting_an_image_makes_a_like_this_chip_that_combines_with_text(qtbot, open_window,
                                                                         library_copy):
    window = open_window(library_copy)
    wait_ready(qtbot, window)
    QApplication.clipboard().setImage(_shape_image("blue", "circle"))
    field = window.search_bar.field
    field.setFocus()
    with qtbot.waitSignal(window.engine.searchAnswered, timeout=30_000):
        qtbot.keyClick(field, Qt.Key.Key_V, Qt.KeyboardModifier.ControlModifier)
    assert len(window.search_bar.chips) == 1
    assert field.text() == ""  # the image went to a chip, not into the text
    assert photo_class(shown_paths(window, 1)[0]) == "blue-circle"
    # text and image together: circles of both colours come first
    with qtbot.waitSignal(window.engine.searchAnswered, timeout=30_000):
        qtbot.keyClicks(field, "a photo of a red circle")
    top = [photo_class(p) for p in shown_paths(window, 3)]
    assert set(top) <= {"blue-circle", "red-circle"} and len(set(top)) == 2
    # removing the chip leaves the text alone
    chip = window.search_bar.chips[0]
    with qtbot.waitSignal(window.engine.searchAnswered, timeout=30_000):
        qtbot.mouseClick(chip.remove_button, Qt.MouseButton.LeftButton)
    assert window.search_bar.chips == []
    assert [photo_class(p) for p in shown_paths(window, 2)] == ["red-circle"] * 2


def test_dropping_an_image_file_searches_like_it(qtbot, open_window, library_copy, tmp_path):
    window = open_window(library_copy)
    wait_ready(qtbot, window)
    outside = tmp_path / "dropped.png"
    _shape_image("blue", "circle", seed=3).save(str(outside))
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(outside))])
    with qtbot.waitSignal(window.engine.searchAnswered, timeout=30_000):
        drop(window, mime)
    assert window.search_bar.chip_for(str(outside)) is not None
    top = [photo_class(p) for p in shown_paths(window, 3)]
    assert top[0] == "blue-circle" and top.count("blue-circle") == 2


def test_sort_by_date_cutoff_and_zoom(qtbot, open_window, library_copy):
    window = open_window(library_copy)
    wait_ready(qtbot, window)
    type_query(qtbot, window, "a photo of a red circle")
    model = window.model
    window.sort_combo.setCurrentIndex(1)  # Newest first
    dates = [model.hit(r).taken_at for r in range(model.rowCount())]
    assert dates == sorted(dates, reverse=True)
    window.sort_combo.setCurrentIndex(0)
    scores = [model.hit(r).score for r in range(model.rowCount())]
    assert scores == sorted(scores, reverse=True)

    window.cutoff_slider.setValue(90)
    assert 1 <= model.rowCount() < 24
    assert " of 24 photos" in window.count_label.text()
    assert all(photo_class(p) == "red-circle" for p in shown_paths(window))
    window.cutoff_slider.setValue(0)
    assert model.rowCount() == 24

    size = window.view.gridSize()
    wheel = QWheelEvent(QPointF(50, 50), QPointF(window.view.mapToGlobal(QPoint(50, 50))),
                        QPoint(0, 0), QPoint(0, 120), Qt.MouseButton.NoButton,
                        Qt.KeyboardModifier.ControlModifier, Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(window.view.viewport(), wheel)
    assert window.view.gridSize().width() > size.width()
    qtbot.keyClick(window.view, Qt.Key.Key_Minus, Qt.KeyboardModifier.ControlModifier)
    qtbot.keyClick(window.view, Qt.Key.Key_Minus, Qt.KeyboardModifier.ControlModifier)
    assert window.view.gridSize().width() < size.width()
    assert window.settings.thumb_size == 128


def test_thumbnails_fill_in_and_scores_show(qtbot, open_window, library_copy):
    window = open_window(library_copy)
    wait_ready(qtbot, window)
    type_query(qtbot, window, "a photo of a green circle")
    loader = window.loader
    hit = window.model.hit(0)
    # the loader serves the newest request first: wait for this tile's own thumbnail
    qtbot.waitUntil(lambda: loader.pixmap(hit.hash) is not None, timeout=10_000)
    pixmap = loader.pixmap(hit.hash)
    assert pixmap is not None and max(pixmap.width(), pixmap.height()) <= 160
    assert not pixmap.isNull()
    # the cached thumbnails came from the library's thumbnail folder
    assert window.engine.library.thumbnail_path(hit.hash).is_file()


def test_drag_out_gives_file_urls(qtbot, open_window, library_copy):
    window = open_window(library_copy)
    wait_ready(qtbot, window)
    type_query(qtbot, window, "a photo of a green circle")
    view = window.view
    assert view.dragEnabled()
    indexes = [window.model.index(0), window.model.index(1)]
    mime = window.model.mimeData(indexes)
    assert [u.toLocalFile() for u in mime.urls()] == shown_paths(window, 2)
