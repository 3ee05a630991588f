"""What the user does with a photo: the preview and stepping through it, Open, Show in folder,
Copy path, Copy image, Tags."""

from __future__ import annotations

from pathlib import Path

from PIL import Image
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication
from uihelpers import photo_class, shown_paths, type_query, wait_ready


def test_double_click_opens_the_preview_and_arrow_keys_step(qtbot, open_window, library_copy):
    window = open_window(library_copy)
    wait_ready(qtbot, window)
    type_query(qtbot, window, "a photo of a yellow circle")
    view = window.view
    rect = view.visualRect(window.model.index(0))
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    qtbot.mouseDClick(view.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    qtbot.waitUntil(lambda: window.preview is not None and window.preview.isVisible())
    preview = window.preview
    first = shown_paths(window, 1)[0]
    assert preview.path_label.text() == first
    assert preview.position_label.text() == "1 of 24"
    width, height = Image.open(first).size
    qtbot.waitUntil(lambda: preview.dims_label.text() == f"{width:,} × {height:,}")
    qtbot.waitUntil(lambda: preview.size_label.text().endswith("kB"))
    assert preview.date_label.text() not in ("", "—")
    qtbot.waitUntil(lambda: getattr(preview, "loaded_size", None) is not None, timeout=10_000)
    assert (preview.loaded_size.width(), preview.loaded_size.height()) == (width, height)
    qtbot.waitUntil(lambda: preview.tags_label.text() != "…", timeout=30_000)
    assert len(preview.tags_label.text().split(", ")) == 5

    qtbot.keyClick(preview, Qt.Key.Key_Right)
    assert preview.path_label.text() == shown_paths(window, 2)[1]
    assert preview.position_label.text() == "2 of 24"
    assert window.view.currentIndex().row() == 1  # the grid follows
    qtbot.keyClick(preview, Qt.Key.Key_Left)
    qtbot.keyClick(preview, Qt.Key.Key_Left)  # stays at the first
    assert preview.position_label.text() == "1 of 24"
    qtbot.keyClick(preview, Qt.Key.Key_End)
    assert preview.position_label.text() == "24 of 24"
    qtbot.keyClick(preview, Qt.Key.Key_Escape)
    assert not preview.isVisible()


def test_space_in_the_grid_opens_the_preview(qtbot, open_window, library_copy):
    window = open_window(library_copy)
    wait_ready(qtbot, window)
    type_query(qtbot, window, "a photo of a blue circle")
    window.view.setFocus()
    window.view.setCurrentIndex(window.model.index(2))
    qtbot.keyClick(window.view, Qt.Key.Key_Space)
    qtbot.waitUntil(lambda: window.preview is not None and window.preview.isVisible())
    assert window.preview.path_label.text() == shown_paths(window, 3)[2]
    qtbot.keyClick(window.preview, Qt.Key.Key_Space)
    assert not window.preview.isVisible()


def test_open_show_in_folder_copy_path_and_copy_image(qtbot, open_window, library_copy,
                                                      url_catcher):
    window = open_window(library_copy)
    wait_ready(qtbot, window)
    type_query(qtbot, window, "a photo of a red triangle")
    view = window.view
    view.setFocus()
    view.setCurrentIndex(window.model.index(0))
    first = shown_paths(window, 1)[0]

    qtbot.keyClick(view, Qt.Key.Key_O, Qt.KeyboardModifier.ControlModifier)
    assert [u.toLocalFile() for u in url_catcher.urls] == [first]
    qtbot.keyClick(view, Qt.Key.Key_O,
                   Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    assert url_catcher.urls[-1].toLocalFile() == str(Path(first).parent)

    # two photos selected: Copy path copies both, as text and as file URLs
    view.selectionModel().select(window.model.index(1),
                                 view.selectionModel().SelectionFlag.Select)
    view.selectionModel().select(window.model.index(0),
                                 view.selectionModel().SelectionFlag.Select)
    qtbot.keyClick(view, Qt.Key.Key_C,
                   Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    clipboard = QApplication.clipboard()
    assert clipboard.text().splitlines() == shown_paths(window, 2)
    assert [u.toLocalFile() for u in clipboard.mimeData().urls()] == shown_paths(window, 2)

    view.clearSelection()
    view.setCurrentIndex(window.model.index(0))
    qtbot.keyClick(view, Qt.Key.Key_C, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: not clipboard.image().isNull(), timeout=10_000)
    assert (clipboard.image().width(), clipboard.image().height()) == Image.open(first).size


def test_tags_describe_a_photo(qtbot, open_window, library_copy, shapes_folder):
    from tinyclip import CLASSES

    library = library_copy
    window = open_window(library)
    wait_ready(qtbot, window)
    window.engine.library.catalog.add_labels([f"{c} {s}" for c, s in CLASSES])
    type_query(qtbot, window, "a photo of a green circle")
    first = shown_paths(window, 1)[0]
    assert photo_class(first) == "green-circle"
    window.view.setFocus()
    window.view.setCurrentIndex(window.model.index(0))
    with qtbot.waitSignal(window.engine.tagsReady, timeout=30_000):
        qtbot.keyClick(window.view, Qt.Key.Key_T, Qt.KeyboardModifier.ControlModifier)
    dialog = window.tags_dialog
    assert dialog.isVisible() and dialog.path == first
    assert dialog.labels()[0] == "green circle"
    assert len(dialog.labels()) == 10
