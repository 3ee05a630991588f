"""The first run, adding folders and watching them index, pausing, closing mid-way and coming
back, the folders dialog with its counts, failures and Retry."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw
from PySide6.QtCore import QMimeData, Qt, QUrl
from uihelpers import drop, photo_class, shown_paths, type_query, wait_ready

import tinyclip
from clipdesk.core.library import Library
from clipdesk.ui.engine import ModelState


def drop_urls(window, paths: list[Path]) -> None:
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    drop(window, mime)


def make_photos(folder: Path, n: int, seed: int = 0, size=(480, 360)) -> list[Path]:
    """``n`` distinct camera-like JPEGs: one noisy background, a different shape on each."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    w, h = size
    base = Image.fromarray(np.clip(rng.normal(200, 12, (h, w, 3)), 0, 255).astype(np.uint8))
    out = []
    for i in range(n):
        color, shape = tinyclip.CLASSES[i % len(tinyclip.CLASSES)]
        image = base.copy()
        side = min(w, h) * rng.uniform(0.3, 0.6)
        x, y = rng.uniform(0, w - side), rng.uniform(0, h - side)
        box = (x, y, x + side, y + side)
        fill = tinyclip.COLORS[color]
        draw = ImageDraw.Draw(image)
        if shape == "circle":
            draw.ellipse(box, fill=fill)
        elif shape == "square":
            draw.rectangle(box, fill=fill)
        else:
            draw.polygon([(x + side / 2, y), (x + side, y + side), (x, y + side)], fill=fill)
        path = folder / f"{color}-{shape}-s{seed}-{i}.jpg"
        image.save(path, quality=90)
        out.append(path)
    return out


def test_first_run_welcome_then_a_dropped_folder_indexes_to_the_end(qtbot, open_window,
                                                                      tmp_path, trained_model,
                                                                      shapes_folder):
    window = open_window(tmp_path / "new-library", model=trained_model)
    qtbot.waitUntil(lambda: window.pages.currentWidget() is window.welcome, timeout=10_000)
    assert window.welcome.isVisible()
    assert window.welcome.add_button.text() == "Add a folder…"
    wait_ready(qtbot, window)
    assert window.welcome.model_panel.state_label.text().startswith("Model ")

    progress: list[tuple[int, int]] = []
    labels: list[str] = []
    window.engine.indexingProgress.connect(lambda d, t: progress.append((d, t)))
    window.engine.indexingProgress.connect(lambda *_: labels.append(window.index_status.text()))
    with qtbot.waitSignal(window.engine.indexingFinished, timeout=60_000) as finished:
        drop_urls(window, [shapes_folder])
        assert window.pages.currentWidget() is window.browse_page
    report = finished.args[0]
    assert report is not None and report.embedded == 24 and not report.interrupted
    assert progress[-1] == (24, 24)
    assert labels[-1].startswith("Indexing 24 / 24")
    assert not window.index_status.isVisible()  # done: the progress goes away
    qtbot.waitUntil(lambda: "24 photos" in window.library_label.text(), timeout=10_000)
    type_query(qtbot, window, "a photo of a green square")
    assert photo_class(shown_paths(window, 1)[0]) == "green-square"


@pytest.mark.slow
def test_status_bar_shows_rate_eta_and_pause_resume_keeps_work(qtbot, open_window, tmp_path,
                                                               random_model):
    photos = tmp_path / "photos"
    make_photos(photos, 240, size=(1200, 900))
    window = open_window(tmp_path / "lib", model=random_model)
    qtbot.waitUntil(lambda: window.engine.model_state is ModelState.READY, timeout=30_000)
    window.engine.settings.workers = 1
    seen: list[str] = []
    window.engine.indexingProgress.connect(lambda *_: seen.append(window.index_status.text()))
    window.add_folders([photos])
    qtbot.waitUntil(lambda: len(seen) >= 3, timeout=60_000)
    status = window.index_status
    assert status.isVisible() and status.button.text() == "Pause"
    assert "photos/s" in seen[-1] and "left" in seen[-1]

    with qtbot.waitSignal(window.engine.indexingFinished, timeout=60_000) as finished:
        qtbot.mouseClick(status.button, Qt.MouseButton.LeftButton)
    report = finished.args[0]
    assert report.interrupted and 0 < report.embedded < 240
    assert status.isVisible() and status.button.text() == "Resume"
    assert status.label.text().startswith("Paused at")
    kept = report.embedded

    library = Library(tmp_path / "lib")
    row = library.model_row(window.engine.encoder.spec)
    assert library.catalog.indexed_count(row) >= kept  # finished work is in the catalog
    library.close()

    with qtbot.waitSignal(window.engine.indexingFinished, timeout=120_000) as finished:
        qtbot.mouseClick(status.button, Qt.MouseButton.LeftButton)
    report = finished.args[0]
    assert not report.interrupted
    assert report.embedded == 240 - kept  # nothing done twice
    assert not status.isVisible()


@pytest.mark.slow
def test_closing_while_indexing_keeps_finished_work_and_the_next_launch_resumes(
        qtbot, open_window, tmp_path, random_model):
    photos = tmp_path / "photos"
    make_photos(photos, 160, size=(1200, 900))
    lib = tmp_path / "lib"
    window = open_window(lib, model=random_model)
    qtbot.waitUntil(lambda: window.engine.model_state is ModelState.READY, timeout=30_000)
    window.engine.settings.workers = 1
    with qtbot.waitSignal(window.engine.indexingProgress, timeout=60_000):
        window.add_folders([photos])
    window.close()  # waits for the batch in flight, saves the index
    assert not window.engine.writer.running()

    library = Library(lib)
    row = library.model_row(window.engine.encoder.spec)
    done = library.catalog.indexed_count(row)
    counts = library.catalog.counts(row.id)
    assert 0 < done < 160
    assert sum(c["pending"] for c in counts.values()) == 160 - done
    library.close()

    again = open_window(lib, model=random_model)
    with qtbot.waitSignal(again.engine.indexingFinished, timeout=120_000) as finished:
        pass
    report = finished.args[0]
    assert report.embedded == 160 - done and report.reused == 0
    library = Library(lib)
    assert library.catalog.indexed_count(row) == 160
    library.close()


def test_folders_dialog_counts_failures_retry_and_remove(qtbot, open_window, tmp_path,
                                                         trained_model, monkeypatch):
    good = tmp_path / "good"
    make_photos(good, 5)
    other = tmp_path / "other"
    make_photos(other, 3, seed=1)
    (other / "broken.jpg").write_bytes(b"not a photo at all")
    (other / "empty.png").write_bytes(b"")
    window = open_window(tmp_path / "lib", model=trained_model)
    wait_ready(qtbot, window)
    with qtbot.waitSignal(window.engine.indexingFinished, timeout=60_000):
        window.add_folders([good, other])
    wait_ready(qtbot, window)

    window.show_folders()
    dialog = window.folders_dialog
    qtbot.waitUntil(lambda: dialog.roots.topLevelItemCount() == 2, timeout=10_000)
    rows = {dialog.roots.topLevelItem(i).text(0): [dialog.roots.topLevelItem(i).text(c)
                                                    for c in (1, 2, 3)]
            for i in range(2)}
    assert rows[str(good)] == ["5", "0", "0"]
    assert rows[str(other)] == ["3", "0", "2"]
    reasons = {dialog.failures.topLevelItem(i).text(0): dialog.failures.topLevelItem(i).text(1)
               for i in range(dialog.failures.topLevelItemCount())}
    assert set(reasons) == {str(other / "broken.jpg"), str(other / "empty.png")}
    assert "empty" in reasons[str(other / "empty.png")]
    assert "2 photos could not be read" in dialog.failed_label.text()

    # the user fixes one file and presses Retry
    shutil.copy(good / next(p.name for p in good.iterdir()), other / "broken.jpg")
    assert dialog.retry_button.isEnabled()
    with qtbot.waitSignal(window.engine.indexingFinished, timeout=60_000):
        qtbot.mouseClick(dialog.retry_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dialog.failures.topLevelItemCount() == 1, timeout=10_000)
    assert dialog.failures.topLevelItem(0).text(0) == str(other / "empty.png")
    rows = {dialog.roots.topLevelItem(i).text(0): dialog.roots.topLevelItem(i).text(1)
            for i in range(dialog.roots.topLevelItemCount())}
    assert rows[str(other)] == "4"

    # remove a folder: its photos leave the library (the files stay)
    for i in range(dialog.roots.topLevelItemCount()):
        item = dialog.roots.topLevelItem(i)
        item.setSelected(item.text(0) == str(other))
    assert dialog.remove_button.isEnabled()
    with qtbot.waitSignal(window.engine.libraryChanged, timeout=30_000):
        dialog._remove(confirm=False)
    qtbot.waitUntil(lambda: dialog.roots.topLevelItemCount() == 1, timeout=10_000)
    assert (other / "empty.png").exists()
    type_query(qtbot, window, "a photo of a red circle")
    assert all(str(good) in p for p in shown_paths(window))


def test_a_library_of_an_older_version_says_it_is_upgrading_then_opens_whole(
        qtbot, open_window, library_copy):
    import oldlibrary
    from clipdesk.core.catalog import SCHEMA_VERSION, Catalog

    oldlibrary.take_back(library_copy, 3)
    window = open_window(library_copy, start=False)
    assert window.opening_page.text().startswith("Upgrading the library for this version")
    window.engine.start()
    wait_ready(qtbot, window)
    qtbot.waitUntil(lambda: window.model.rowCount() == 24, timeout=30_000)  # every photo
    type_query(qtbot, window, "a red circle")  # the vectors came through: search works
    assert photo_class(shown_paths(window, 1)[0]) == "red-circle"
    catalog = Catalog(library_copy)
    assert catalog.db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    catalog.close()
    again = open_window(library_copy, start=False)  # upgraded: an ordinary opening now
    assert again.opening_page.text() == "Opening the library…"
