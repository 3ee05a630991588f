"""RAW photos in the app (DNG files written with pidng): found by a search, copied and previewed
through ClipDesk's decoder (the camera's preview when large enough, else the sensor data), and a
RAW dropped from outside the library searches like it."""

from __future__ import annotations

from pathlib import Path

import dngfiles
import numpy as np
from PySide6.QtCore import QMimeData, Qt, QUrl
from PySide6.QtWidgets import QApplication
from uihelpers import drop, index_folder, photo_class, shown_paths, type_query, wait_ready

import tinyclip

SIZE = (420, 300)


def make_raw(path: Path, color: str, shape: str, seed: int, preview: bool) -> Path:
    picture = tinyclip.draw_shape(color, shape, np.random.default_rng(seed), size=SIZE)
    return dngfiles.write_dng(path, picture, preview=dngfiles.jpeg(picture) if preview else None)


def test_a_raw_photo_is_found_copied_previewed_and_dropped(qtbot, open_window, tmp_path,
                                                          trained_model):

    photos = tmp_path / "photos"
    for seed, (name, preview) in enumerate([("red-circle-0", True), ("red-circle-1", False),
                                            ("blue-square-0", True), ("blue-square-1", False)]):
        color, shape, _ = name.split("-")
        make_raw(photos / f"{name}.dng", color, shape, seed, preview)
    report = index_folder(tmp_path / "library", photos, trained_model)
    assert report.embedded == 4 and not report.failed

    window = open_window(tmp_path / "library")
    wait_ready(qtbot, window)
    type_query(qtbot, window, "a photo of a red circle")
    assert [photo_class(p) for p in shown_paths(window, 2)] == ["red-circle"] * 2
    view, clipboard = window.view, QApplication.clipboard()
    for row in range(2):  # one RAW through its preview, one through its sensor data
        view.setFocus()
        view.clearSelection()
        view.setCurrentIndex(window.model.index(row))
        clipboard.clear()
        qtbot.keyClick(view, Qt.Key.Key_C, Qt.KeyboardModifier.ControlModifier)
        qtbot.waitUntil(lambda: not clipboard.image().isNull(), timeout=10_000)
        image = clipboard.image()
        assert (image.width(), image.height()) == SIZE  # every pixel, for Copy image
        shown = window.model.hit(row).path
        assert [u.toLocalFile() for u in clipboard.mimeData().urls()] == [shown]
        red = sum(image.pixelColor(x, y).red() > 150 and image.pixelColor(x, y).green() < 100
                  for x in range(0, SIZE[0], 10) for y in range(0, SIZE[1], 10))
        assert red > 100  # the red circle, not a blank

    window.open_preview(0)
    qtbot.waitUntil(lambda: window.preview is not None and window.preview.isVisible())
    preview = window.preview
    qtbot.waitUntil(lambda: getattr(preview, "loaded_size", None) is not None, timeout=10_000)
    assert not preview.image.pixmap().isNull()
    preview.close()

    window.search_bar.clear()  # as Escape does: the drop below is the whole query
    outside = make_raw(tmp_path / "card" / "DSC_0001.dng", "blue", "square", 99, False)
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(outside))])
    with qtbot.waitSignal(window.engine.searchAnswered, timeout=30_000):
        drop(window, mime)
    assert window.search_bar.chip_for(str(outside)) is not None
    assert [photo_class(p) for p in shown_paths(window, 2)] == ["blue-square"] * 2
