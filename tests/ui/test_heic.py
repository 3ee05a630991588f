"""Photos in a format Qt cannot read (HEIC, through pi-heif) are shown, copied and searched
with like any other: every picture the app shows from a file goes through ClipDesk's decoder.
The HEIC files are written with pillow-heif's encoder (the test extra)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pillow_heif
import pytest
from PySide6.QtCore import QMimeData, Qt, QUrl
from PySide6.QtGui import QImageReader
from PySide6.QtWidgets import QApplication
from uihelpers import drop, index_folder, photo_class, shown_paths, type_query, wait_ready

import tinyclip

SIZES = {"red-circle-0": (420, 300), "red-circle-1": (360, 280), "blue-square-0": (400, 320),
         "blue-square-1": (300, 300)}


def save_heic(path: Path, color: str, shape: str, size: tuple[int, int], seed: int) -> Path:
    picture = tinyclip.draw_shape(color, shape, np.random.default_rng(seed), size=size)
    pillow_heif.from_pillow(picture).save(path, quality=90)
    return path


@pytest.fixture
def heic_library(tmp_path, trained_model) -> Path:
    """A library of four HEIC photos (two red circles, two blue squares), indexed."""

    photos = tmp_path / "photos"
    photos.mkdir()
    for seed, (name, size) in enumerate(SIZES.items()):
        color, shape, _ = name.split("-")
        save_heic(photos / f"{name}.heic", color, shape, size, seed)
    assert QImageReader(str(photos / "red-circle-0.heic")).read().isNull()  # Qt cannot
    report = index_folder(tmp_path / "library", photos, trained_model)
    assert report.embedded == 4 and not report.failed
    return tmp_path / "library"


def test_a_heic_photo_copies_and_previews(qtbot, open_window, heic_library):
    window = open_window(heic_library)
    wait_ready(qtbot, window)
    type_query(qtbot, window, "a photo of a red circle")
    first = shown_paths(window, 1)[0]
    assert first.endswith(".heic") and photo_class(first) == "red-circle"
    size = SIZES[Path(first).stem]

    view = window.view
    view.setFocus()
    view.setCurrentIndex(window.model.index(0))
    qtbot.keyClick(view, Qt.Key.Key_C, Qt.KeyboardModifier.ControlModifier)
    clipboard = QApplication.clipboard()
    qtbot.waitUntil(lambda: not clipboard.image().isNull(), timeout=10_000)
    image = clipboard.image()
    assert (image.width(), image.height()) == size
    centre = image.pixelColor(image.width() // 2, image.height() // 2)
    assert centre.red() > 150 and centre.green() < 100  # the red circle, not a blank
    assert [u.toLocalFile() for u in clipboard.mimeData().urls()] == [first]

    window.open_preview(0)
    qtbot.waitUntil(lambda: window.preview is not None and window.preview.isVisible())
    preview = window.preview
    qtbot.waitUntil(lambda: getattr(preview, "loaded_size", None) is not None, timeout=10_000)
    assert (preview.loaded_size.width(), preview.loaded_size.height()) == size
    assert not preview.image.pixmap().isNull()


def test_a_heic_photo_without_its_thumbnail_still_shows_in_the_grid(qtbot, open_window,
                                                                      heic_library):
    shutil.rmtree(heic_library / "thumbnails")  # trimmed, or deleted by the user
    window = open_window(heic_library)
    wait_ready(qtbot, window)
    type_query(qtbot, window, "a photo of a blue square")
    loader = window.loader
    keys = [window.model.hit(r).hash for r in range(window.model.rowCount())]
    qtbot.waitUntil(lambda: all(loader.pixmap(k) is not None or loader.failed(k) for k in keys),
                    timeout=10_000)
    assert not any(loader.failed(k) for k in keys)
    pixmap = loader.pixmap(keys[0])
    assert 0 < max(pixmap.width(), pixmap.height()) <= loader.size.width()


@pytest.mark.parametrize("how", ["drop", "paste"])
def test_a_heic_file_dropped_or_pasted_searches_like_it(qtbot, open_window, heic_library,
                                                       tmp_path, how):
    window = open_window(heic_library)
    wait_ready(qtbot, window)
    outside = save_heic(tmp_path / "from-the-phone.heic", "blue", "square", (360, 300), 99)
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(outside))])
    with qtbot.waitSignal(window.engine.searchAnswered, timeout=30_000):
        if how == "drop":
            drop(window, mime)
        else:
            QApplication.clipboard().setMimeData(mime)
            field = window.search_bar.field
            field.setFocus()
            qtbot.keyClick(field, Qt.Key.Key_V, Qt.KeyboardModifier.ControlModifier)
    chip = window.search_bar.chip_for(str(outside))
    assert chip is not None
    assert [photo_class(p) for p in shown_paths(window, 2)] == ["blue-square"] * 2
    # the chip shows the picture, decoded in a worker by ClipDesk's decoder
    qtbot.waitUntil(lambda: chip.thumb.pixmap() is not None and not chip.thumb.pixmap().isNull(),
                    timeout=10_000)
