"""What a desktop user expects of the window: the adaptive cut-off ("Auto") and the slider that
overrides it, empty states that say why and help, keyboard navigation, and tiles and chips
drawn from the palette; on real libraries indexed with the trained tiny CLIP."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication
from uihelpers import answer_after, photo_class, shown_paths, type_query, wait_ready

import tinyclip
from clipdesk.core.cutoff import adaptive_cutoff
from clipdesk.core.query import Filters

PER_CLASS = 6  # 72 photos: enough scores for the adaptive cut-off to find a group


@pytest.fixture(scope="module")
def big_library(tmp_path_factory, trained_model) -> tuple[Path, Path]:
    """(library, photos): six photos of each shape class, indexed once for this module."""
    from clipdesk.core import models
    from clipdesk.core.indexer import Indexer
    from clipdesk.core.library import Library

    base = tmp_path_factory.mktemp("polish")
    photos = base / "photos"
    photos.mkdir()
    rng = np.random.default_rng(5)
    for color, shape in tinyclip.CLASSES:
        for i in range(PER_CLASS):
            tinyclip.draw_shape(color, shape, rng, size=(320, 240)).save(
                photos / f"{color}-{shape}-{i}.jpg", quality=90)
    library = Library(base / "library")
    with pytest.MonkeyPatch.context() as mp:  # module scope: isolated_paths is not set yet
        mp.setenv("CLIPDESK_HOME", str(base / "clipdesk-home"))
        mp.setenv("HF_HOME", str(base / "hf"))
        encoder = models.load(models.ModelSpec.parse(trained_model), device="cpu")
        report = Indexer(library, encoder, on_progress=lambda *_: None).run([photos])
    assert report.embedded == 12 * PER_CLASS and not report.failed
    library.close()
    return base / "library", photos


@pytest.fixture
def big_copy(big_library, tmp_path) -> Path:
    target = tmp_path / "library"
    shutil.copytree(big_library[0], target)
    return target


# ---------------------------------------------------------------------- the adaptive cut-off


def test_auto_cut_off_shows_the_group_the_slider_overrides_a_new_query_returns_to_auto(
        qtbot, open_window, big_copy):
    window = open_window(big_copy)
    wait_ready(qtbot, window)
    total = 12 * PER_CLASS
    type_query(qtbot, window, "a photo of a red circle")
    answer = window.last_answer
    assert answer.cutoff is not None
    assert answer.cutoff == adaptive_cutoff(answer.results.scores)
    model, control = window.model, window.cutoff
    assert control.auto and model.auto_cutoff
    shown = shown_paths(window)
    assert PER_CLASS <= len(shown) < total  # the matches stand out; the rest are cut
    assert [photo_class(p) for p in shown[:PER_CLASS]] == ["red-circle"] * PER_CLASS
    assert all(model.hit(r).score >= answer.cutoff - 1e-6 for r in range(model.rowCount()))
    assert window.cutoff_label.text() == f"auto ≥ {answer.cutoff:.2f}"
    assert f"of {total} photos" in window.count_label.text()

    window.cutoff_slider.setValue(0)  # the user's choice overrides Auto for this query
    assert not control.auto and model.rowCount() == total
    assert window.cutoff_label.text() == "all"
    control.auto_button.click()  # and Auto takes it back
    assert model.rowCount() == len(shown) and window.cutoff_label.text().startswith("auto ≥")
    window.cutoff_slider.setValue(0)

    type_query(qtbot, window, "a photo of a blue square")  # a new query: Auto again
    answer = window.last_answer
    assert control.auto and model.auto_cutoff and answer.cutoff is not None
    assert [photo_class(p) for p in shown_paths(window, PER_CLASS)] == ["blue-square"] * PER_CLASS
    assert model.rowCount() < total


def test_nothing_above_the_cut_off_offers_to_show_all(qtbot, open_window, library_copy):
    window = open_window(library_copy)
    wait_ready(qtbot, window)
    type_query(qtbot, window, "a photo of a green square")
    model = window.model
    model.set_auto_cutoff(2.0, auto=True)  # above every cosine: nothing passes
    model.set_results(model.results)
    assert model.rowCount() == 0
    empty = window.empty_state
    assert window.results_stack.currentWidget() is empty and empty.isVisible()
    assert "Nothing scores above the cut-off" in empty.text() and "show all 24 results" in empty.text()
    empty.linkActivated.emit("#show-all")  # what a click on the link does
    assert model.rowCount() == 24 and window.results_stack.currentWidget() is window.view
    assert not window.cutoff.auto and window.cutoff_slider.value() == 0


def test_a_folder_with_no_photos_says_so_and_what_clipdesk_reads(qtbot, open_window,
                                                                  library_copy, tmp_path):
    window = open_window(library_copy)
    wait_ready(qtbot, window)
    type_query(qtbot, window, "a photo of a red circle")
    empty_folder = tmp_path / "Holidays" / "2024"
    empty_folder.mkdir(parents=True)
    answer = answer_after(qtbot, window, lambda: window.search_bar.set_filters(
        Filters(folder=empty_folder)))
    assert len(answer.results) == 0
    text = window.empty_state.text()
    assert window.results_stack.currentWidget() is window.empty_state
    assert "No photos in Holidays/2024 yet" in text and "ClipDesk reads JPEG, PNG" in text
    assert "video (MP4, MOV" in text
    answer = answer_after(qtbot, window, lambda: window.search_bar.set_filters(
        Filters(media="video")))
    assert "No photos match these filters" in window.empty_state.text()
    window.empty_state.linkActivated.emit("#clear-filters")
    qtbot.waitUntil(lambda: window.results_stack.currentWidget() is window.view, timeout=30_000)
    assert window.search_bar.filters == Filters() and window.model.rowCount() == 24


# ---------------------------------------------------------------------- keyboard


def test_tab_goes_search_field_filters_grid(qtbot, open_window, library_copy):
    window = open_window(library_copy)
    wait_ready(qtbot, window)
    type_query(qtbot, window, "a photo of a yellow circle")
    bar = window.search_bar
    with qtbot.waitSignal(window.engine.searchAnswered, timeout=30_000):
        bar.filter_bar.set_date_preset("this-year")
    seen = []
    window.activateWindow()
    bar.field.setFocus(Qt.FocusReason.TabFocusReason)
    qtbot.waitUntil(lambda: QApplication.focusWidget() is bar.field)
    for _ in range(8):
        widget = QApplication.focusWidget()
        seen.append(widget)
        if widget is window.sidebar.tree:
            break
        qtbot.keyClick(widget, Qt.Key.Key_Tab)
    date_chip = bar.filter_bar.chips["date"]
    assert seen == [bar.field, bar.filter_bar.button, date_chip.remove_button,
                    window.sort_combo, window.cutoff.auto_button, window.cutoff_slider,
                    window.view, window.sidebar.tree]


def test_grid_keys_move_enter_and_space_preview_delete_changes_nothing(qtbot, open_window,
                                                                     library_copy):
    window = open_window(library_copy)
    wait_ready(qtbot, window)
    type_query(qtbot, window, "a photo of a red circle")
    view = window.view
    view.setFocus()
    qtbot.waitUntil(view.hasFocus)
    assert view.currentIndex().row() == 0
    qtbot.keyClick(view, Qt.Key.Key_Right)
    assert view.currentIndex().row() == 1
    qtbot.keyClick(view, Qt.Key.Key_End)
    assert view.currentIndex().row() == 23
    qtbot.keyClick(view, Qt.Key.Key_Home)
    assert view.currentIndex().row() == 0
    qtbot.keyClick(view, Qt.Key.Key_PageDown)
    assert view.currentIndex().row() > 0
    qtbot.keyClick(view, Qt.Key.Key_Home)

    paths = shown_paths(window)
    qtbot.keyClick(view, Qt.Key.Key_Delete)  # nothing destructive: same photos, same files
    assert shown_paths(window) == paths and all(Path(p).is_file() for p in paths)

    qtbot.keyClick(view, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: window.preview is not None and window.preview.isVisible())
    window.preview.close()
    qtbot.waitUntil(lambda: not window.preview.isVisible())
    window.preview = None
    view.setFocus()
    qtbot.keyClick(view, Qt.Key.Key_Space)
    qtbot.waitUntil(lambda: window.preview is not None and window.preview.isVisible())
    window.preview.close()


# ---------------------------------------------------------------------- drawn from the palette


def test_negative_and_filter_chips_are_drawn_from_the_palette(qtbot, open_window,
                                                              library_copy):
    window = open_window(library_copy)
    wait_ready(qtbot, window)
    type_query(qtbot, window, "a photo of a red circle")
    with qtbot.waitSignal(window.engine.searchAnswered, timeout=30_000):
        window.search_bar.filter_bar.set_media("photo")
    chip = window.search_bar.filter_bar.chips["media"]
    assert chip.styleSheet() == ""  # a styled panel in the palette's colours
    grab = chip.grab().toImage()
    assert not grab.isNull()


# ---------------------------------------------------------------------- dark mode


@pytest.fixture
def follower(qapp):
    """The app's dark-mode follower on the test's QApplication, back to light at the end."""
    from clipdesk.ui.app import ColorSchemeFollower

    follower = ColorSchemeFollower(qapp)
    yield follower
    follower.follow(Qt.ColorScheme.Light)
    follower.setParent(None)


def _lightness(image, x: int, y: int) -> int:
    return image.pixelColor(x, y).lightness()


def test_dark_mode_repaints_tiles_and_chips_from_a_dark_palette_and_back(
        qtbot, qapp, open_window, library_copy, follower):
    from clipdesk.ui.app import is_dark

    window = open_window(library_copy)
    wait_ready(qtbot, window)
    type_query(qtbot, window, "a photo of a red circle")
    window.refine(True)  # a negative chip too
    qtbot.waitUntil(lambda: window.search_bar.chips != [])
    light_style = qapp.style().name()
    assert follower.scheme() != Qt.ColorScheme.Dark  # offscreen: no system scheme, light
    assert not is_dark(qapp.palette()) and not follower.forced

    follower.follow(Qt.ColorScheme.Dark)  # what the system's change does
    assert follower.forced and qapp.style().name() == "fusion" and is_dark(qapp.palette())
    qtbot.waitUntil(lambda: is_dark(window.view.palette()))
    grid = window.view.viewport().grab().toImage()
    # the grid's background (below the last row of tiles) and the chips are dark now
    assert _lightness(grid, grid.width() - 3, grid.height() - 3) < 80
    chip = window.search_bar.chips[0]
    assert is_dark(chip.palette())
    assert is_dark(window.search_bar.filter_bar.button.palette())

    follower.follow(Qt.ColorScheme.Light)
    assert not follower.forced and qapp.style().name() == light_style
    assert not is_dark(qapp.palette())
    qtbot.waitUntil(lambda: not is_dark(window.view.palette()))
    grid = window.view.viewport().grab().toImage()
    assert _lightness(grid, grid.width() - 3, grid.height() - 3) > 170


def test_the_override_and_a_platform_that_is_dark_already(qapp, follower):
    from clipdesk.ui.app import ColorSchemeFollower, dark_palette, is_dark

    assert ColorSchemeFollower(qapp, "Dark ").scheme() == Qt.ColorScheme.Dark
    forced = next(c for c in qapp.children() if isinstance(c, ColorSchemeFollower)
                  and c.override == "dark")
    assert forced.forced and is_dark(qapp.palette())
    forced.follow(Qt.ColorScheme.Light)
    forced.setParent(None)
    assert not is_dark(qapp.palette())
    # a platform palette that is dark already is left as it is
    saved = qapp.palette()
    qapp.setPalette(dark_palette())
    try:
        follower.follow(Qt.ColorScheme.Dark)
        assert not follower.forced
    finally:
        qapp.setPalette(saved)


AUTO_CLEAR = 50  # mean luminance difference (0-255) between Auto on and off, seen at a glance


def _rgb(image) -> np.ndarray:
    """A QImage as an (h, w, 3) RGB array."""
    from PySide6.QtGui import QImage

    image = image.convertToFormat(QImage.Format.Format_RGB888)
    rows = np.frombuffer(image.constBits(), np.uint8).reshape(image.height(),
                                                              image.bytesPerLine())
    return rows[:, : image.width() * 3].reshape(image.height(), image.width(), 3).copy()


def _luminance(rgb: np.ndarray) -> np.ndarray:
    return rgb.astype(np.float64) @ np.array([0.2126, 0.7152, 0.0722])


@pytest.mark.parametrize("scheme", [Qt.ColorScheme.Dark, Qt.ColorScheme.Light],
                         ids=["dark", "light"])
def test_auto_on_and_off_are_clearly_apart_in_the_highlight_colour(qtbot, qapp, follower,
                                                                     scheme):
    """The cut-off's Auto button, rendered offscreen as painted: its on-state was the style's
    pressed-in look, 15 grey levels of mean luminance from the flat off-state in the dark
    palette; now the palette's highlight with its highlighted text, in both palettes."""
    from PySide6.QtGui import QPalette

    from clipdesk.ui.app import is_dark
    from clipdesk.ui.filterbar import CutoffControl

    follower.follow(scheme)
    assert is_dark(qapp.palette()) == (scheme == Qt.ColorScheme.Dark)
    control = CutoffControl()
    qtbot.addWidget(control)
    control.show()
    qtbot.waitExposed(control)
    button = control.auto_button
    assert button.isChecked()  # Auto is on to begin with
    on = _rgb(button.grab().toImage())
    control.set_auto(False)
    off = _rgb(button.grab().toImage())
    control.set_auto(True)
    assert on.shape == off.shape
    assert abs(_luminance(on).mean() - _luminance(off).mean()) > AUTO_CLEAR

    # on: filled with the palette's highlight (the system's accent where it has one)
    palette = button.palette()
    fill = palette.color(QPalette.ColorRole.Highlight)
    h, _, _ = on.shape
    assert np.abs(on[h // 2, 3].astype(int) - [fill.red(), fill.green(), fill.blue()]).max() <= 8
    # and its words in the highlight's text colour, which stands off the fill
    text = palette.color(QPalette.ColorRole.HighlightedText)
    near_text = np.abs(on.astype(int) - [text.red(), text.green(), text.blue()]).max(axis=2)
    assert (near_text <= 40).sum() >= 10


# ---------------------------------------------------------------------- high-DPI

HIDPI_SCRIPT = r"""
import json, sys, time
from pathlib import Path
from PySide6.QtWidgets import QApplication
app = QApplication([])
from clipdesk.ui.engine import Engine, ModelState
from clipdesk.ui.mainwindow import MainWindow
from clipdesk.ui.settings import Settings

def wait(cond, seconds=90):
    end = time.monotonic() + seconds
    while not cond():
        if time.monotonic() > end:
            raise SystemExit("timed out")
        app.processEvents()
        time.sleep(0.01)

settings = Settings.load()
engine = Engine(Path(sys.argv[1]), sys.argv[2], "cpu", settings)
window = MainWindow(engine, settings)
window.show()
engine.start()
wait(lambda: engine.model_state is ModelState.READY and not engine.indexing)
window.search_bar.set_text("a photo of a red circle")
wait(lambda: getattr(window, "last_answer", None) is not None and window.model.rowCount())
hit = window.model.hit(0)
key = hit.hash or hit.path
window.model.index(0).data(1)  # DecorationRole: ask for the thumbnail
wait(lambda: window.loader.pixmap(key) is not None)
pixmap = window.loader.pixmap(key)
print(json.dumps({"dpr": window.devicePixelRatioF(), "tile": settings.thumb_size,
                  "loader": [window.loader.size.width(), window.loader.size.height()],
                  "pixmap": [pixmap.width(), pixmap.height()],
                  "pixmap_dpr": pixmap.devicePixelRatio()}))
window.close()
"""


def test_thumbnails_are_requested_at_twice_the_tile_on_a_2x_screen(library_copy, trained_model,
                                                                   tmp_path):
    import json
    import os
    import subprocess
    import sys

    env = dict(os.environ, QT_SCALE_FACTOR="2", QT_QPA_PLATFORM="offscreen")
    done = subprocess.run([sys.executable, "-c", HIDPI_SCRIPT, str(library_copy),
                           trained_model], env=env, capture_output=True, text=True,
                          timeout=300, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    facts = json.loads(done.stdout.strip().splitlines()[-1])
    tile = facts["tile"]
    assert facts["dpr"] == 2.0
    assert facts["loader"] == [2 * tile, 2 * tile]  # the image asked for: 2x the tile
    assert max(facts["pixmap"]) == 2 * tile and facts["pixmap_dpr"] == 2.0
