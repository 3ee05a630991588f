"""RAW+JPEG pairs in the window (DNGs written with pidng beside JPEGs of the same shot, indexed
with the trained tiny CLIP): one tile per shot, the JPEG, with a RAW badge, in browsing and in
search; preview, Copy image and Find similar use the JPEG; the RAW is one key away in the
preview and in the Photo menu; the setting shows both files."""

from __future__ import annotations

from pathlib import Path

import dngfiles
import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication
from uihelpers import (
    answer_after,
    dark_tile_pixels,
    find_similar_to,
    index_folder,
    shown_paths,
    type_query,
    wait_ready,
)

import tinyclip

JPEG_SIZE, RAW_SIZE = (420, 300), (400, 280)  # told apart by their size


def shoot(folder: Path, jpeg_name: str, raw_name: str | None, color: str, shape: str,
          seed: int, taken: str) -> None:
    """What a camera set to RAW+JPEG writes: a JPEG and a DNG of one scene, with its date."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    if jpeg_name:
        picture = tinyclip.draw_shape(color, shape, rng, size=JPEG_SIZE)
        (folder / jpeg_name).write_bytes(dngfiles.jpeg(picture, taken=taken))
    if raw_name:
        picture = tinyclip.draw_shape(color, shape, rng, size=RAW_SIZE)
        dngfiles.write_dng(folder / raw_name, picture, preview=dngfiles.jpeg(picture),
                           taken=taken)


def wait_thumbnail(qtbot, window, row: int) -> None:
    hit = window.model.hit(row)
    window.view.scrollTo(window.model.index(row))
    window.view.viewport().repaint()  # painting asks for the thumbnail
    qtbot.waitUntil(lambda: window.loader.pixmap(hit.hash or hit.path) is not None,
                    timeout=10_000)


def test_a_raw_and_its_jpeg_are_one_photo_with_the_jpeg_in_front(qtbot, open_window, tmp_path,
                                                                  trained_model, url_catcher):
    from clipdesk.ui.settings import Settings

    photos = tmp_path / "photos"
    shoot(photos, "IMG_0001.JPG", "IMG_0001.DNG", "red", "circle", 1, "2024:05:01 10:00:00")
    shoot(photos, "IMG_0002.JPG", "img_0002.dng", "blue", "square", 2, "2024:05:01 11:00:00")
    shoot(photos, "", "IMG_0003.DNG", "red", "circle", 3, "2024:05:01 12:00:00")  # RAW only
    shoot(photos, "red.jpg", None, "red", "circle", 4, "2024:05:01 09:00:00")
    shoot(photos, "blue.jpg", None, "blue", "square", 5, "2024:05:01 08:00:00")
    report = index_folder(tmp_path / "library", photos, trained_model)
    assert report.embedded == 7 and not report.failed
    jpeg, raw = str(photos / "IMG_0001.JPG"), str(photos / "IMG_0001.DNG")

    window = open_window(tmp_path / "library")
    wait_ready(qtbot, window)
    model, view = window.model, window.view
    # browsing: five tiles, newest first; each pair is its JPEG, with its RAW beside it
    qtbot.waitUntil(lambda: model.browsing and model.rowCount() == 5, timeout=10_000)
    assert [Path(p).name for p in shown_paths(window)] == [
        "IMG_0003.DNG", "IMG_0002.JPG", "IMG_0001.JPG", "red.jpg", "blue.jpg"]
    assert [model.raw_at(r) for r in range(5)] == [
        None, str(photos / "img_0002.dng"), raw, None, None]
    view.setCurrentIndex(model.index(4))
    view.clearSelection()
    for row in (2, 3):
        wait_thumbnail(qtbot, window, row)
    assert dark_tile_pixels(window, 2, "left") > 40  # the badge on the pair
    assert dark_tile_pixels(window, 3, "left") == 0  # a JPEG alone has none

    # search: the pair shows once, as the JPEG
    type_query(qtbot, window, "a photo of a red circle")
    paths = shown_paths(window)
    assert raw not in paths and paths.count(jpeg) == 1
    row = paths.index(jpeg)
    assert model.raw_at(row) == raw and str(photos / "IMG_0003.DNG") in paths
    assert {Path(p).name for p in paths[:3]} == {"IMG_0001.JPG", "IMG_0003.DNG", "red.jpg"}

    # Copy image copies the JPEG
    view.setFocus()
    view.clearSelection()
    view.setCurrentIndex(model.index(row))
    clipboard = QApplication.clipboard()
    clipboard.clear()
    qtbot.keyClick(view, Qt.Key.Key_C, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: not clipboard.image().isNull(), timeout=10_000)
    assert (clipboard.image().width(), clipboard.image().height()) == JPEG_SIZE
    assert [u.toLocalFile() for u in clipboard.mimeData().urls()] == [jpeg]

    # the RAW from the Photo menu (Ctrl+Alt+O): the system's viewer gets the RAW
    window._sync_photo_actions()
    assert window.open_raw_action.isEnabled()
    qtbot.keyClick(view, Qt.Key.Key_O,
                   Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.AltModifier)
    assert [u.toLocalFile() for u in url_catcher.urls] == [raw]

    # the preview shows the JPEG; R shows the RAW, and R again the JPEG
    window.open_preview(row)
    preview = window.preview
    qtbot.waitUntil(lambda: getattr(preview, "loaded_size", None) is not None,
                    timeout=10_000)
    assert preview.loaded_size.toTuple() == JPEG_SIZE and preview.raw == raw
    assert preview.raw_label.isVisible() and preview.raw_button.isVisible()
    qtbot.keyClick(preview, Qt.Key.Key_R)
    assert preview.shown == raw and preview.path_label.text() == raw
    qtbot.waitUntil(lambda: preview.loaded_size.toTuple() == RAW_SIZE, timeout=10_000)
    qtbot.keyClick(preview, Qt.Key.Key_R)
    qtbot.waitUntil(lambda: preview.loaded_size.toTuple() == JPEG_SIZE, timeout=10_000)
    preview.show_row(paths.index(str(photos / "red.jpg")))
    assert not preview.raw_label.isVisible() and not preview.raw_button.isVisible()
    assert preview.raw is None
    preview.close()

    # Find similar uses the JPEG, and leaves the whole pair out of its results
    find_similar_to(qtbot, window, row)
    assert list(window.search_bar.query().images) == [jpeg]
    similar = shown_paths(window)
    assert jpeg not in similar and raw not in similar
    assert Path(similar[0]).name in ("IMG_0003.DNG", "red.jpg")

    # the setting shows both files, and is kept
    window.show_settings()
    dialog = window.settings_dialog
    assert dialog.pairs_check.isChecked()
    dialog.pairs_check.setChecked(False)
    with qtbot.waitSignal(window.engine.searchAnswered, timeout=30_000):
        dialog.accept()
    assert Settings.load().pair_raws is False
    both = shown_paths(window)
    assert jpeg not in both and raw in both  # "like this" JPEG is still left out
    window.clear_search()
    qtbot.waitUntil(lambda: model.browsing and model.rowCount() == 7, timeout=10_000)
    assert not any(model.raw_at(r) for r in range(7))
    row = shown_paths(window).index(jpeg)
    view.setCurrentIndex(model.index(shown_paths(window).index(str(photos / "blue.jpg"))))
    wait_thumbnail(qtbot, window, row)
    assert dark_tile_pixels(window, row, "left") == 0  # the JPEG alone: no badge
    raw_row = shown_paths(window).index(raw)
    assert dark_tile_pixels(window, raw_row, "left") > 40  # a RAW is a RAW


def test_a_photos_search_shows_each_pair_as_its_jpeg_with_the_raw_badge(qtbot, open_window,
                                                                       tmp_path, trained_model):
    """The "Photos" media filter: a pair is its JPEG with its RAW badge, in search as in
    browsing (the search left the RAW out before folding: the JPEG lost its badge); "RAW
    photos" shows the RAW files, the pair's too."""
    from clipdesk.core.query import Filters

    photos = tmp_path / "photos"
    shoot(photos, "IMG_0001.JPG", "IMG_0001.DNG", "red", "circle", 1, "2024:05:01 10:00:00")
    shoot(photos, "", "IMG_0003.DNG", "red", "circle", 3, "2024:05:01 12:00:00")  # RAW only
    shoot(photos, "red.jpg", None, "red", "circle", 4, "2024:05:01 09:00:00")
    shoot(photos, "blue.jpg", None, "blue", "square", 5, "2024:05:01 08:00:00")
    index_folder(tmp_path / "library", photos, trained_model)
    jpeg, raw = str(photos / "IMG_0001.JPG"), str(photos / "IMG_0001.DNG")
    window = open_window(tmp_path / "library")
    wait_ready(qtbot, window)
    model = window.model
    qtbot.waitUntil(lambda: model.browsing and model.rowCount() == 4, timeout=10_000)
    answer_after(qtbot, window, lambda: window.search_bar.set_filters(Filters(media="photo")))
    assert [Path(p).name for p in shown_paths(window)] == ["IMG_0001.JPG", "red.jpg", "blue.jpg"]
    assert model.raw_at(0) == raw  # browsing: the JPEG keeps its RAW

    type_query(qtbot, window, "a photo of a red circle")
    assert window.search_bar.query().filters.media == "photo"
    paths = shown_paths(window)
    assert sorted(Path(p).name for p in paths) == ["IMG_0001.JPG", "blue.jpg", "red.jpg"]
    row = paths.index(jpeg)
    assert model.raw_at(row) == raw
    window.view.setCurrentIndex(model.index(paths.index(str(photos / "blue.jpg"))))
    window.view.clearSelection()
    wait_thumbnail(qtbot, window, row)
    assert dark_tile_pixels(window, row, "left") > 40  # the badge on the pair

    answer_after(qtbot, window, lambda: window.search_bar.set_filters(Filters(media="raw")))
    assert sorted(Path(p).name for p in shown_paths(window)) == ["IMG_0001.DNG", "IMG_0003.DNG"]
