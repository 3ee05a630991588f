"""Smart albums in the sidebar, as a user keeps a search: save it (File ▸ Save search as
album…), find it listed, choose it to get the query back with its results, rename and delete
it from its context menu (photos untouched), and find it again after a restart. Real
libraries indexed with the trained tiny CLIP."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QContextMenuEvent
from PySide6.QtWidgets import QApplication, QInputDialog, QMessageBox, QTreeWidgetItem
from uihelpers import photo_class, shown_paths, type_query, wait_ready

import tinyclip
from clipdesk.core.catalog import Catalog


def click_item(qtbot, window, item: QTreeWidgetItem) -> None:
    tree = window.sidebar.tree
    tree.scrollToItem(item)
    qtbot.mouseClick(tree.viewport(), Qt.MouseButton.LeftButton,
                     pos=tree.visualItemRect(item).center())


def album_menu(qtbot, window, name: str, action: str) -> None:
    """Right-click the album and pick ``action`` ("Rename…", "Delete…")."""
    tree = window.sidebar.tree
    item = window.sidebar.album_item(name)
    pos = tree.visualItemRect(item).center()
    QApplication.sendEvent(tree.viewport(), QContextMenuEvent(
        QContextMenuEvent.Reason.Mouse, pos, tree.viewport().mapToGlobal(pos)))
    menu = window.sidebar.context_menu
    qtbot.waitUntil(lambda: menu.isVisible())
    chosen = next(a for a in menu.actions() if a.text().replace("&", "") == action)
    chosen.trigger()
    menu.close()


def answer_text(qtbot, window, dialog_kind, text: str) -> None:
    """Type ``text`` into the open name dialog and press OK; waits for the writer."""
    dialog = window.sidebar_control.dialog
    assert isinstance(dialog, dialog_kind) and dialog.isVisible()
    dialog.setTextValue(text)
    with qtbot.waitSignal(window.engine.albumsChanged, timeout=30_000):
        dialog.accept()


def save_album(qtbot, window, name: str) -> QTreeWidgetItem:
    window.save_album_action.trigger()
    assert window.save_album_action.shortcut().toString() == "Ctrl+Shift+S"
    answer_text(qtbot, window, QInputDialog, name)
    qtbot.waitUntil(lambda: window.sidebar.album_item(name) is not None, timeout=10_000)
    return window.sidebar.album_item(name)


def choose_album(qtbot, window, name: str):
    with qtbot.waitSignal(window.engine.searchAnswered, timeout=30_000,
                          check_params_cb=lambda a: not a.query.empty) as answered:
        click_item(qtbot, window, window.sidebar.album_item(name))
    return answered.args[0]


def files_on_disk(folder: Path) -> dict[str, tuple[int, int]]:
    return {str(p): (p.stat().st_size, p.stat().st_mtime_ns) for p in folder.rglob("*")
            if p.is_file()}


def test_save_choose_rename_and_delete_an_album(qtbot, open_window, library_copy,
                                               shapes_folder):
    window = open_window(library_copy)
    wait_ready(qtbot, window)
    sidebar = window.sidebar
    qtbot.waitUntil(lambda: sidebar.folder_item(shapes_folder / "more") is not None,
                    timeout=30_000)
    assert sidebar.albums_item.child(0).text(0) == "Save a search to make one"
    with qtbot.waitSignal(window.engine.searchAnswered, timeout=30_000):
        click_item(qtbot, window, sidebar.folder_item(shapes_folder / "more"))
    text = 'a photo of a red circle -"a photo of a red square"'
    type_query(qtbot, window, text)
    saved_query = window.search_bar.query()
    assert saved_query.filters.folder == shapes_folder / "more"

    item = save_album(qtbot, window, "Red circles")
    assert sidebar.tree.currentItem() is item  # the search bar holds this album's query
    catalog = Catalog(library_copy)
    assert catalog.album("Red circles").query == saved_query  # text, negatives, the folder
    catalog.close()

    # something else, then back to the album
    window.clear_search()
    with qtbot.waitSignal(window.engine.searchAnswered, timeout=30_000):
        click_item(qtbot, window, sidebar.all_item)
    assert window.search_bar.filters.folder is None and window.search_bar.field.text() == ""
    answer = choose_album(qtbot, window, "Red circles")
    assert answer.query == saved_query
    assert window.search_bar.field.text() == text
    assert window.search_bar.filters.folder == shapes_folder / "more"
    paths = shown_paths(window)
    assert len(paths) == 12 and all(Path(p).parent == shapes_folder / "more" for p in paths)
    assert photo_class(paths[0]) == "red-circle"
    assert sidebar.tree.currentItem() is sidebar.album_item("Red circles")

    # rename from the context menu: the album stays chosen
    album_menu(qtbot, window, "Red circles", "Rename…")
    answer_text(qtbot, window, QInputDialog, "Circles")
    qtbot.waitUntil(lambda: sidebar.album_item("Circles") is not None, timeout=10_000)
    assert sidebar.album_item("Red circles") is None
    assert sidebar.tree.currentItem() is sidebar.album_item("Circles")

    # a rename to a name in use is one clear message, nothing lost
    item = save_album(qtbot, window, "Other")
    album_menu(qtbot, window, "Other", "Rename…")
    dialog = window.sidebar_control.dialog
    dialog.setTextValue("circles")
    with qtbot.waitSignal(window.engine.message, timeout=30_000) as said:
        dialog.accept()
    assert said.args[0] == "an album named “Circles” already exists"
    assert window.sidebar.album_names() == ["Circles", "Other"]

    # delete asks first; Cancel keeps it, Delete removes the album and never a photo
    before = files_on_disk(shapes_folder)
    album_menu(qtbot, window, "Circles", "Delete…")
    box = window.sidebar_control.dialog
    assert isinstance(box, QMessageBox) and "not touched" in box.text()
    box.button(QMessageBox.StandardButton.Cancel).click()
    qtbot.wait(300)
    assert sidebar.album_item("Circles") is not None
    album_menu(qtbot, window, "Circles", "Delete…")
    box = window.sidebar_control.dialog
    delete = next(b for b in box.buttons() if b.text() == "Delete")
    with qtbot.waitSignal(window.engine.albumsChanged, timeout=30_000):
        delete.click()
    qtbot.waitUntil(lambda: sidebar.album_item("Circles") is None, timeout=10_000)
    assert sidebar.album_names() == ["Other"]
    assert files_on_disk(shapes_folder) == before
    catalog = Catalog(library_copy)
    assert [a.name for a in catalog.albums()] == ["Other"]
    assert sum(n for _, n in catalog.folder_counts()) == 24
    catalog.close()


def test_albums_survive_a_restart_with_their_image_chips(qtbot, open_window, library_copy,
                                                         shapes_folder):
    window = open_window(library_copy)
    wait_ready(qtbot, window)
    photo = str(shapes_folder / "yellow-triangle-0.jpg")
    with qtbot.waitSignal(window.engine.searchAnswered, timeout=30_000):
        window.search_bar.add_image(photo)
    save_album(qtbot, window, "Like this triangle")
    saved = window.search_bar.query()
    window.close()

    again = open_window(library_copy)
    wait_ready(qtbot, again)
    qtbot.waitUntil(lambda: again.sidebar.album_item("Like this triangle") is not None,
                    timeout=30_000)
    assert again.search_bar.query().empty
    answer = choose_album(qtbot, again, "Like this triangle")
    assert answer.query == saved
    chip = again.search_bar.chip_for(photo)
    assert chip is not None and chip.isVisible()
    qtbot.waitUntil(lambda: chip.thumb.pixmap() is not None and not chip.thumb.pixmap().isNull(),
                    timeout=10_000)
    paths = shown_paths(again)
    assert photo not in paths  # the photo itself is left out, as when it was saved
    assert photo_class(paths[0]) == "yellow-triangle"
    assert again.sidebar.tree.currentItem() is again.sidebar.album_item("Like this triangle")

    type_query(qtbot, again, "a photo of a blue circle")  # another search: not the album's
    assert again.sidebar.tree.currentItem() is again.sidebar.all_item


def test_an_album_shows_photos_added_to_the_library_later(qtbot, open_window, tmp_path,
                                                          trained_model):
    photos = tmp_path / "photos"
    tinyclip.photo_folder(photos, 12, seed=3)  # every class once
    window = open_window(tmp_path / "lib", model=trained_model)
    wait_ready(qtbot, window)
    with qtbot.waitSignal(window.engine.indexingFinished, timeout=60_000):
        window.add_folders([photos])
    type_query(qtbot, window, "a photo of a red circle")
    save_album(qtbot, window, "Red")
    window.clear_search()
    assert window.search_bar.query().empty

    choose_album(qtbot, window, "Red")
    before = set(shown_paths(window))
    new = photos / "new-red-circle.jpg"
    tinyclip.draw_shape("red", "circle", np.random.default_rng(9),
                        size=(320, 240)).save(new, quality=90)
    qtbot.waitUntil(lambda: str(new.resolve()) in shown_paths(window), timeout=30_000)
    assert set(shown_paths(window)) - before == {str(new.resolve())}
    assert str(new.resolve()) in shown_paths(window, 2)  # a red circle ranks first


def test_a_moved_cut_off_is_kept_as_the_albums_score_floor(qtbot, open_window, library_copy):
    window = open_window(library_copy)
    wait_ready(qtbot, window)
    type_query(qtbot, window, "a photo of a green square")
    qtbot.waitUntil(lambda: window.last_answer.query.text == "a photo of a green square",
                    timeout=30_000)  # not the library's listing, should it come late
    save_album(qtbot, window, "Auto cut-off")  # Auto: each run finds its own
    window.cutoff.slider.setValue(60)  # the user's own cut-off
    floor = window.model.cutoff_score()
    assert floor is not None and window.model.rowCount() < 24
    save_album(qtbot, window, "Strict")
    catalog = Catalog(library_copy)
    assert catalog.album("Auto cut-off").query.filters.min_score is None
    assert catalog.album("Strict").query.filters.min_score == floor
    catalog.close()

    window.clear_search()
    answer = choose_album(qtbot, window, "Strict")
    assert answer.query.filters.min_score == floor
    assert len(answer.results.scores) and min(answer.results.scores) >= floor
