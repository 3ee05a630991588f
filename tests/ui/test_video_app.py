"""Videos in the window (encoded with PyAV in the test, indexed with the trained tiny CLIP): a
search finds the video at the moment that matches and its tile shows that frame with a
duration badge; browsing shows the video's own thumbnail and badge; the preview shows the
moment and the video's other sampled frames, and Open hands the video to the system's player;
Copy image copies the frame; Find similar with a video uses its vector."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QApplication
from uihelpers import (
    dark_tile_pixels,
    find_similar_to,
    index_folder,
    shown_paths,
    type_query,
    wait_ready,
)

import tinyclip
import videofiles
from videofiles import Scene

# the scenes of the video, in order: (class, seconds); a black opening first
SCENES = [("black", 1.0), ("red-circle", 3.0), ("blue-square", 3.0), ("yellow-triangle", 3.0)]
LENGTH = sum(s for _, s in SCENES)


def scene_at(t: float) -> str:
    start = 0.0
    for what, seconds in SCENES:
        if start <= t < start + seconds:
            return what
        start += seconds
    return SCENES[-1][0]


def colour_of(colour: QColor) -> str:
    """Which of the shapes' colours a pixel is nearest to ("red", "blue", ...)."""
    rgb = np.array([colour.red(), colour.green(), colour.blue()])
    return min(tinyclip.COLORS, key=lambda c: np.abs(rgb - tinyclip.COLORS[c]).sum())


def centre_colour(image) -> str:
    """The colour at the picture's centre: the shape (drawn around it)."""
    return colour_of(image.pixelColor(image.width() // 2, image.height() // 2))


def tile_pixmap(qtbot, window, row: int):
    """The tile's picture, once the loader has it (painting asks for it)."""
    from clipdesk.ui.results import hit_key

    hit = window.model.hit(row)
    window.view.scrollTo(window.model.index(row))
    window.view.viewport().repaint()
    qtbot.waitUntil(lambda: window.loader.pixmap(hit_key(hit)) is not None, timeout=10_000)
    return window.loader.pixmap(hit_key(hit))


def test_a_video_is_found_at_its_moment_shown_previewed_copied_and_opened(
        qtbot, open_window, tmp_path, trained_model, url_catcher):

    photos = tmp_path / "photos"
    video = str(videofiles.write(photos / "holiday.mp4",
                                 [Scene(what, seconds) for what, seconds in SCENES], seed=3))
    for seed, name in enumerate(["red-circle", "green-triangle", "yellow-square"]):
        color, shape = name.split("-")
        tinyclip.draw_shape(color, shape, np.random.default_rng(seed),
                            size=(160, 120)).save(photos / f"{name}.jpg")
    report = index_folder(tmp_path / "library", photos, trained_model)
    assert report.embedded == 4 and not report.failed

    window = open_window(tmp_path / "library")
    wait_ready(qtbot, window)
    model, view = window.model, window.view
    # browsing: the video's own thumbnail, and its length on a badge
    qtbot.waitUntil(lambda: model.browsing and model.rowCount() == 4, timeout=10_000)
    row = shown_paths(window).index(video)
    moment, length = model.video_at(row)
    assert moment is None and abs(length - LENGTH) < 0.5
    assert tile_pixmap(qtbot, window, row) is not None
    others = [r for r in range(4) if r != row]
    view.setCurrentIndex(model.index(others[0]))
    view.clearSelection()
    assert dark_tile_pixels(window, row, "bottom-right") > 30
    assert dark_tile_pixels(window, others[1], "bottom-right") == 0  # a photo has none

    # search: the video, once, at a moment of the blue square (within a sampling step)
    type_query(qtbot, window, "a photo of a blue square")
    paths = shown_paths(window)
    assert paths.count(video) == 1
    row = paths.index(video)
    assert row == 0  # nothing else in the library is a blue square
    hit = model.hit(row)
    assert scene_at(hit.time) == "blue-square" and abs(hit.duration - LENGTH) < 0.5
    # the tile is that frame's thumbnail, not the video's opening
    assert centre_colour(tile_pixmap(qtbot, window, row).toImage()) == "blue"
    assert view.model().data(model.index(row), 0x0100 + 6) == (hit.time, hit.duration)
    view.setCurrentIndex(model.index(1))
    view.clearSelection()
    assert dark_tile_pixels(window, row, "bottom-right") > 30

    # Copy image copies the frame at that moment, at the video's size
    view.setFocus()
    view.setCurrentIndex(model.index(row))
    clipboard = QApplication.clipboard()
    clipboard.clear()
    window.copy_selected_image()
    qtbot.waitUntil(lambda: not clipboard.image().isNull(), timeout=10_000)
    image = clipboard.image()
    assert (image.width(), image.height()) == videofiles.SIZE
    assert centre_colour(image) == "blue"

    # the preview: the moment, the video's sampled frames below it, Open
    window.open_preview(row)
    preview = window.preview
    qtbot.waitUntil(lambda: preview.frames.count() >= 3, timeout=10_000)
    assert preview.open_button.isVisible() and preview.frames.isVisible()
    times = [preview.frames.item(i).data(0x0100 + 1) for i in range(preview.frames.count())]
    assert times == sorted(times) and hit.time in times
    assert all(scene_at(t) != "black" for t in times)  # the black opening is not sampled
    assert {scene_at(t) for t in times} == {"red-circle", "blue-square", "yellow-triangle"}
    assert not preview.frames.item(0).icon().isNull()  # each frame's thumbnail
    assert preview.frames.currentItem().data(0x0100 + 1) == hit.time
    assert "best match at" in preview.moment_label.text()
    qtbot.waitUntil(lambda: getattr(preview, "loaded_size", None) is not None,
                    timeout=10_000)
    assert centre_colour(preview.image._pixmap.toImage()) == "blue"
    red = next(t for t in times if scene_at(t) == "red-circle")
    preview.loaded_size = None
    preview.frames.itemClicked.emit(preview.frames.item(times.index(red)))
    assert preview.moment == red and preview.frames.currentItem().data(0x0100 + 1) == red
    qtbot.waitUntil(lambda: preview.loaded_size is not None, timeout=10_000)
    assert centre_colour(preview.image._pixmap.toImage()) == "red"
    qtbot.keyClick(preview, Qt.Key.Key_Period)  # the next sampled frame
    assert preview.moment == times[times.index(red) + 1]
    qtbot.keyClick(preview, Qt.Key.Key_Comma)
    assert preview.moment == red
    preview.open_button.click()
    assert [u.toLocalFile() for u in url_catcher.urls] == [video]
    preview.close()

    # Find similar with the video: its vector is the query, and it leaves the results
    find_similar_to(qtbot, window, row)
    assert list(window.search_bar.query().images) == [video]
    assert video not in shown_paths(window) and model.rowCount() == 3
    assert window.message_label.text().startswith("found in")


def test_a_video_without_its_thumbnail_shows_a_still_past_its_black_opening(qtbot, tmp_path):
    """The grid's fallback and a dropped video's chip (``images.read_photo``): a frame that is
    not blank, never the whole file read into memory."""
    from PySide6.QtCore import QSize

    from clipdesk.ui.images import read_photo

    video = videofiles.write(tmp_path / "clip.mp4", [Scene("black", 1.0),
                                                     Scene("red-circle", 1.0)])
    image = read_photo(str(video), QSize(80, 80))
    assert (image.width(), image.height()) == (80, 60) and centre_colour(image) == "red"


def test_a_video_that_cannot_be_read_says_why_in_the_preview(qtbot, tmp_path):
    """A frame of a video that is gone or damaged is a one-line reason, not a crash."""
    from PySide6.QtCore import QSize

    from clipdesk.core.decode import DecodeError
    from clipdesk.ui.images import load_frame

    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(200))
    for path in (broken, tmp_path / "gone.mp4"):
        try:
            load_frame(str(path), 1.0, QSize(100, 100))
        except DecodeError as exc:
            assert "\n" not in str(exc) and str(exc)
        else:
            raise AssertionError(f"{path.name} gave a frame")
    assert Path(broken).read_bytes()[:4] == b"\x00\x00\x00\x18"  # never changed
