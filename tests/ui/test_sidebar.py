"""The sidebar as a user meets it: the library's folders as a tree with counts, choosing a
folder to search (and browse) in it, an unplugged root shown offline, the keyboard, and the
window's layout remembered across runs. Real libraries, the tiny CLIP models."""

from __future__ import annotations

from pathlib import Path

import dngfiles
import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QTreeWidgetItem
from uihelpers import index_folder, photo_class, shown_paths, type_query, wait_ready

import tinyclip
from clipdesk.ui.settings import Settings


def click_item(qtbot, window, item: QTreeWidgetItem) -> None:
    tree = window.sidebar.tree
    tree.scrollToItem(item)
    qtbot.mouseClick(tree.viewport(), Qt.MouseButton.LeftButton,
                     pos=tree.visualItemRect(item).center())


def counts(item: QTreeWidgetItem) -> tuple[str, str]:
    return item.text(0), item.text(1)


def wait_tree(qtbot, window, folder: Path) -> QTreeWidgetItem:
    sidebar = window.sidebar
    qtbot.waitUntil(lambda: sidebar.folder_item(folder) is not None, timeout=30_000)
    return sidebar.folder_item(folder)


def test_folder_tree_shows_roots_subfolders_and_counts(qtbot, open_window, library_copy,
                                                       shapes_folder):
    window = open_window(library_copy)
    wait_ready(qtbot, window)
    root = wait_tree(qtbot, window, shapes_folder)
    sidebar = window.sidebar
    assert sidebar.isVisible() and window.splitter.widget(0) is sidebar
    assert root.parent() is sidebar.folders_item
    assert counts(root) == (shapes_folder.name, "24")  # 12 JPEGs in it, 12 PNGs below
    assert [counts(root.child(i)) for i in range(root.childCount())] == [("more", "12")]
    assert counts(sidebar.all_item) == ("All photos", "24")
    assert root.isExpanded() and sidebar.folders_item.isExpanded()
    assert sidebar.tree.currentItem() is sidebar.all_item  # everything, to begin with
    texts = [sidebar.tree.topLevelItem(i).text(0)
             for i in range(sidebar.tree.topLevelItemCount())]
    assert texts == ["All photos", "Folders", "Albums", "Duplicates"]


def test_choosing_a_folder_restricts_the_search_and_all_photos_lifts_it(qtbot, open_window,
                                                                       library_copy,
                                                                       shapes_folder):
    window = open_window(library_copy)
    wait_ready(qtbot, window)
    wait_tree(qtbot, window, shapes_folder)
    type_query(qtbot, window, "a photo of a red circle")
    assert window.model.rowCount() == 24

    more = window.sidebar.folder_item(shapes_folder / "more")
    with qtbot.waitSignal(window.engine.searchAnswered, timeout=30_000,
                          check_params_cb=lambda a: a.query.filters.folder is not None) as answered:
        click_item(qtbot, window, more)
    assert answered.args[0].query.filters.folder == shapes_folder / "more"
    assert window.search_bar.filters.folder == shapes_folder / "more"
    paths = shown_paths(window)
    assert len(paths) == 12 and all(Path(p).parent == shapes_folder / "more" for p in paths)
    assert photo_class(paths[0]) == "red-circle"
    assert window.search_bar.field.text() == "a photo of a red circle"  # the text stays
    assert window.sidebar.tree.currentItem() is more

    # typing keeps the folder
    type_query(qtbot, window, "a photo of a blue square")
    assert len(shown_paths(window)) == 12 and photo_class(shown_paths(window, 1)[0]) == \
        "blue-square"

    with qtbot.waitSignal(window.engine.searchAnswered, timeout=30_000,
                          check_params_cb=lambda a: a.query.filters.folder is None) as answered:
        click_item(qtbot, window, window.sidebar.all_item)
    assert answered.args[0].query.filters.folder is None
    assert window.model.rowCount() == 24


def test_choosing_a_folder_while_browsing_shows_only_its_photos(qtbot, open_window,
                                                                library_copy, shapes_folder):
    window = open_window(library_copy)
    wait_ready(qtbot, window)
    wait_tree(qtbot, window, shapes_folder)
    assert window.search_bar.query().empty
    qtbot.waitUntil(lambda: len(shown_paths(window)) == 24, timeout=30_000)  # the library
    with qtbot.waitSignal(window.engine.searchAnswered, timeout=30_000,
                          check_params_cb=lambda a: a.query.filters.folder is not None):
        click_item(qtbot, window, window.sidebar.folder_item(shapes_folder / "more"))
    qtbot.waitUntil(lambda: len(shown_paths(window)) == 12, timeout=30_000)
    assert all(Path(p).parent == shapes_folder / "more" for p in shown_paths(window))
    with qtbot.waitSignal(window.engine.searchAnswered, timeout=30_000,
                          check_params_cb=lambda a: a.query.filters.folder is None):
        click_item(qtbot, window, window.sidebar.all_item)
    qtbot.waitUntil(lambda: len(shown_paths(window)) == 24, timeout=30_000)


def test_a_folder_added_or_removed_shows_in_the_tree(qtbot, open_window, library_copy,
                                                     shapes_folder, tmp_path):
    window = open_window(library_copy)
    wait_ready(qtbot, window)
    wait_tree(qtbot, window, shapes_folder)
    extra = tmp_path / "extra"
    tinyclip.photo_folder(extra / "sub", 2, seed=5)
    with qtbot.waitSignal(window.engine.indexingFinished, timeout=60_000):
        window.add_folders([extra])
    qtbot.waitUntil(lambda: window.sidebar.all_item.text(1) == "26", timeout=30_000)
    item = window.sidebar.folder_item(extra.resolve())
    assert counts(item) == (extra.name, "2")
    assert counts(item.child(0)) == ("sub", "2")
    assert window.sidebar.folder_item(shapes_folder).isExpanded()  # kept

    window.engine.remove_folder(extra.resolve())
    qtbot.waitUntil(lambda: window.sidebar.folder_item(extra.resolve()) is None,
                    timeout=30_000)
    assert window.sidebar.all_item.text(1) == "24"


def test_the_duplicates_entry_opens_the_duplicates_view_and_keeps_the_folder(
        qtbot, open_window, library_copy, shapes_folder):
    window = open_window(library_copy)
    wait_ready(qtbot, window)
    wait_tree(qtbot, window, shapes_folder)
    more = window.sidebar.folder_item(shapes_folder / "more")
    with qtbot.waitSignal(window.engine.searchAnswered, timeout=30_000):
        click_item(qtbot, window, more)
    click_item(qtbot, window, window.sidebar.duplicates_item)
    qtbot.waitUntil(lambda: getattr(window, "duplicates_view", None) is not None
                    and window.duplicates_view.isVisible(), timeout=10_000)
    assert window.sidebar.tree.currentItem() is window.sidebar.folder_item(shapes_folder / "more")
    assert window.search_bar.filters.folder == shapes_folder / "more"
    window.duplicates_view.close()


def test_the_keyboard_moves_with_arrows_and_enter_chooses(qtbot, open_window, library_copy,
                                                         shapes_folder):
    window = open_window(library_copy)
    wait_ready(qtbot, window)
    wait_tree(qtbot, window, shapes_folder)
    type_query(qtbot, window, "a photo of a green triangle")
    tree = window.sidebar.tree
    root = window.sidebar.folder_item(shapes_folder)
    window.activateWindow()
    qtbot.waitUntil(lambda: window.search_bar.field.hasFocus() or window.view.hasFocus())
    qtbot.keyClick(window.search_bar.field, Qt.Key.Key_F6)  # View ▸ Go to sidebar
    qtbot.waitUntil(tree.hasFocus)
    assert tree.currentItem() is window.sidebar.all_item
    answers = []
    window.engine.searchAnswered.connect(answers.append)
    qtbot.keyClick(tree, Qt.Key.Key_Down)  # "Folders": a heading
    qtbot.keyClick(tree, Qt.Key.Key_Down)  # the root
    assert tree.currentItem() is root
    qtbot.keyClick(tree, Qt.Key.Key_Down)
    assert tree.currentItem() is root.child(0)
    qtbot.wait(400)
    assert answers == []  # moving chooses nothing
    with qtbot.waitSignal(window.engine.searchAnswered, timeout=30_000,
                          check_params_cb=lambda a: a.query.filters.folder is not None) as answered:
        qtbot.keyClick(tree, Qt.Key.Key_Return)
    assert answered.args[0].query.filters.folder == shapes_folder / "more"
    assert len(shown_paths(window)) == 12


@pytest.mark.allow_log("clipdesk.core.watcher")  # the watcher notes the folder has gone
def test_a_root_that_goes_missing_is_shown_offline_and_comes_back(qtbot, open_window,
                                                                  tmp_path, random_model):
    photos = tmp_path / "photos"
    tinyclip.photo_folder(photos / "2024" / "trip", 3, seed=1)
    tinyclip.photo_folder(photos / "2025", 2, seed=2)
    window = open_window(tmp_path / "lib", model=random_model)
    wait_ready(qtbot, window)
    with qtbot.waitSignal(window.engine.indexingFinished, timeout=60_000):
        window.add_folders([photos])
    root = wait_tree(qtbot, window, photos.resolve())
    qtbot.waitUntil(lambda: counts(window.sidebar.folder_item(photos.resolve())) ==
                    (photos.name, "5"), timeout=10_000)
    root = window.sidebar.folder_item(photos.resolve())
    assert [counts(root.child(i)) for i in range(root.childCount())] == [("2024", "3"),
                                                                          ("2025", "2")]
    year = root.child(0)
    assert [counts(year.child(i)) for i in range(year.childCount())] == [("trip", "3")]
    year.setExpanded(True)
    normal = root.foreground(0).color()

    photos.rename(tmp_path / "unplugged")
    sidebar = window.sidebar
    qtbot.waitUntil(lambda: "offline" in sidebar.folder_item(photos.resolve()).text(0),
                    timeout=20_000)
    root = sidebar.folder_item(photos.resolve())
    assert root.text(0) == f"{photos.name} (offline)"
    assert root.foreground(0).color() != normal  # greyed
    assert "not connected" in root.toolTip(0)
    assert sidebar.folder_item(photos.resolve() / "2024").isExpanded()  # kept across reads

    (tmp_path / "unplugged").rename(photos)
    qtbot.waitUntil(lambda: sidebar.folder_item(photos.resolve()).text(0) == photos.name,
                    timeout=20_000)


def test_window_size_splitter_and_sidebar_visibility_are_remembered(qtbot, open_window,
                                                                     library_copy):
    window = open_window(library_copy)
    qtbot.waitUntil(lambda: window.pages.currentWidget() is window.browse_page, timeout=30_000)
    assert window.sidebar.isVisible()
    window.resize(760, 520)  # within the offscreen screen (800 x 600): restoring clamps to it
    window.splitter.setSizes([200, 556])  # the grid's side needs ~525 px
    qtbot.waitUntil(lambda: window.splitter.sizes()[0] == 200)
    window.close()
    assert Settings.load().sidebar_width == 200

    again = open_window(library_copy)
    qtbot.waitUntil(lambda: again.pages.currentWidget() is again.browse_page, timeout=30_000)
    assert (again.width(), again.height()) == (760, 520)
    assert again.splitter.sizes()[0] == 200
    assert again.sidebar_action.isChecked()

    again.sidebar_action.trigger()  # View ▸ Show sidebar, off
    assert not again.sidebar.isVisible()
    assert again.pages.isVisible()
    again.close()

    third = open_window(library_copy)
    qtbot.waitUntil(lambda: third.pages.currentWidget() is third.browse_page, timeout=30_000)
    assert not third.sidebar.isVisible() and not third.sidebar_action.isChecked()
    third.sidebar_action.trigger()
    assert third.sidebar.isVisible()
    assert third.splitter.sizes()[0] == 200  # the width it had when hidden


def test_the_welcome_page_has_no_sidebar(qtbot, open_window, tmp_path, random_model):
    window = open_window(tmp_path / "empty-library", model=random_model)
    qtbot.waitUntil(lambda: window.pages.currentWidget() is window.welcome, timeout=30_000)
    assert not window.sidebar.isVisible()


def test_folder_counts_count_a_raw_and_its_jpeg_once_as_the_setting_shows_them(
        qtbot, open_window, tmp_path, random_model):
    """A RAW+JPEG pair is one tile (the default setting), so its folder counts it once, as
    All photos does; the setting that shows both files counts both, at once."""
    photos = tmp_path / "photos"
    (photos / "trip").mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name, raw in [("IMG_1.JPG", "IMG_1.DNG"), ("trip/a.jpg", "trip/A.dng"),
                      ("trip/b.jpg", None), (None, "trip/c.dng")]:
        picture = tinyclip.draw_shape("red", "circle", rng, size=(200, 150))
        if name:
            (photos / name).write_bytes(dngfiles.jpeg(picture))
        if raw:
            dngfiles.write_dng(photos / raw, picture, preview=dngfiles.jpeg(picture))
    report = index_folder(tmp_path / "library", photos, random_model)
    assert report.embedded == 6 and not report.failed
    window = open_window(tmp_path / "library", model=random_model)
    wait_ready(qtbot, window)
    sidebar = window.sidebar
    root = wait_tree(qtbot, window, photos)
    qtbot.waitUntil(lambda: window.model.browsing and window.model.rowCount() == 4,
                    timeout=10_000)
    assert counts(root) == ("photos", "4") and counts(sidebar.all_item) == ("All photos", "4")
    assert counts(sidebar.folder_item(photos / "trip")) == ("trip", "3")

    window.show_settings()
    window.settings_dialog.pairs_check.setChecked(False)
    window.settings_dialog.accept()
    qtbot.waitUntil(lambda: counts(sidebar.all_item) == ("All photos", "6"), timeout=10_000)
    assert counts(sidebar.folder_item(photos)) == ("photos", "6")
    assert counts(sidebar.folder_item(photos / "trip")) == ("trip", "4")
    assert window.model.rowCount() == 6  # what the grid shows
