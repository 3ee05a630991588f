"""ClipDesk never touches a photo: every byte, size, mode and mtime under the photo folders
(and each folder's listing and mtime) is the same after indexing, watching, searching,
finding similar, tags, and the app's own flows (grid, preview, tags, copy image, the
duplicates view). The one exception, the duplicates view's Move to Trash, moves exactly the
photos the user confirmed, and only after the confirmation."""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import trashhelpers
from PIL import Image
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication
from trashhelpers import trashed
from uihelpers import shown_paths, type_query, wait_ready

import tinyclip

real_trash = trashhelpers.real_trash  # a fixture


def snapshot(root: Path) -> dict[str, tuple]:
    out: dict[str, tuple] = {}
    for folder, dirs, files in os.walk(root):
        rel = os.path.relpath(folder, root)
        out[rel + "/"] = (os.stat(folder).st_mtime_ns, tuple(sorted(dirs + files)))
        for name in files:
            path = os.path.join(folder, name)
            st = os.lstat(path)
            with open(path, "rb") as fh:
                digest = hashlib.sha256(fh.read()).hexdigest()
            out[os.path.join(rel, name)] = (st.st_size, st.st_mtime_ns, st.st_mode, digest)
    return out


def test_no_flow_changes_anything_under_the_photo_folders(qtbot, open_window, tmp_path, cli,
                                                         shapes_folder, trained_model,
                                                         real_trash):
    photos = tmp_path / "photos"
    shutil.copytree(shapes_folder, photos)
    (photos / "backup").mkdir()
    copy = photos / "backup" / "red-circle-0 (1).jpg"  # for the duplicates view
    shutil.copy2(photos / "red-circle-0.jpg", copy)
    rotated = Image.open(next(photos.glob("*.jpg")))
    exif = Image.Exif()
    exif[0x0112] = 6  # shown rotated; the file itself must stay as it is
    rotated.save(photos / "rotated.jpg", exif=exif.tobytes())
    os.utime(photos / "rotated.jpg", ns=(1_000_000_000, 1_000_000_000))
    library = tmp_path / "lib"
    lib = ["--library", str(library), "--model", trained_model]
    before = snapshot(photos)

    some = str(photos / "rotated.jpg")
    for args in (["index", str(photos)], ["search", "a photo of a red circle"],
                 ["similar", some], ["tags", some], ["labels", "add", "our red canoe"],
                 ["status"], ["index"]):
        res = cli(*args, *lib)
        assert res.code == 0, (args, res.err)
    assert snapshot(photos) == before

    watch = subprocess.Popen([sys.executable, "-m", "clipdesk", "watch", *lib],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert watch.stdout.readline().startswith("Watching")
        staging = tmp_path / "staging.jpg"
        tinyclip.draw_shape("red", "circle", np.random.default_rng(9), size=(300, 220)).save(staging)
        new = photos / "more" / "dropped-in.jpg"
        shutil.move(staging, new)  # the user's own change
        before = snapshot(photos)
        line = watch.stdout.readline()  # "[12:00:00] 1 embedded, ..." once it is indexed
        assert " 1 embedded" in line, line
    finally:
        watch.send_signal(signal.SIGINT)
        watch.communicate(timeout=60)
    assert snapshot(photos) == before

    window = open_window(library)
    wait_ready(qtbot, window)
    type_query(qtbot, window, "a photo of a red circle")
    window.view.setFocus()
    window.view.setCurrentIndex(window.model.index(0))
    with qtbot.waitSignal(window.engine.searchAnswered, timeout=30_000):
        window.find_similar()
    window.view.setCurrentIndex(window.model.index(0))
    with qtbot.waitSignal(window.engine.tagsReady, timeout=30_000):
        qtbot.keyClick(window.view, Qt.Key.Key_T, Qt.KeyboardModifier.ControlModifier)
    window.open_preview(0)
    qtbot.waitUntil(lambda: getattr(window.preview, "loaded_size", None) is not None,
                    timeout=10_000)
    qtbot.keyClick(window.preview, Qt.Key.Key_Right)
    qtbot.keyClick(window.preview, Qt.Key.Key_Escape)
    qtbot.waitUntil(lambda: len(shown_paths(window)) > 0)
    # the duplicates view: looking, choosing and a cancelled Move to Trash change nothing
    window.show_duplicates()
    view = window.duplicates_view
    qtbot.waitUntil(lambda: not view.busy and bool(view.pages["exact"].boxes), timeout=30_000)
    view.trash_button.click()
    assert view.confirmation.paths() == [str(copy)]
    view.confirmation.reject()
    qtbot.wait(200)
    assert snapshot(photos) == before
    # confirmed: exactly that photo leaves (for the trash), nothing else changes
    view.trash_button.click()
    with qtbot.waitSignal(view.trashDone, timeout=30_000):
        view.confirmation.accept()
    after = snapshot(photos)
    assert list(trashed(real_trash).values()) == [str(copy)]
    assert after["backup/"][1] == ()  # its folder's listing (and so its mtime) changed
    unchanged = {k: v for k, v in before.items() if k not in ("backup/", "backup/" + copy.name)}
    assert {k: v for k, v in after.items() if k != "backup/"} == unchanged
    window.close()
    QApplication.processEvents()
    assert snapshot(photos) == after
