"""The app follows its folders: a photo dropped in joins the open results."""

from __future__ import annotations

import numpy as np
from uihelpers import shown_paths, type_query, wait_ready

import tinyclip


def test_a_photo_dropped_into_a_watched_folder_joins_the_open_results(
        qtbot, open_window, tmp_path, trained_model):
    from clipdesk.core import models
    from clipdesk.core.indexer import Indexer
    from clipdesk.core.library import Library

    photos = tmp_path / "photos"
    photos.mkdir()
    rng = np.random.default_rng(5)
    for color, shape in [("blue", "square"), ("green", "triangle"), ("yellow", "circle")]:
        tinyclip.draw_shape(color, shape, rng, size=(240, 200)).save(photos / f"{color}-{shape}.jpg")
    library = Library(tmp_path / "lib")
    encoder = models.load(models.ModelSpec.parse(trained_model), device="cpu")
    Indexer(library, encoder, on_progress=lambda *_: None).run([photos])
    library.close()

    window = open_window(tmp_path / "lib")
    wait_ready(qtbot, window)
    engine = window.engine
    qtbot.waitUntil(lambda: engine.watch_states().get(str(photos)) == "live", timeout=30_000)
    type_query(qtbot, window, "a photo of a red circle")
    assert "red-circle" not in " ".join(shown_paths(window))

    staging = tmp_path / "staging.jpg"
    tinyclip.draw_shape("red", "circle", rng, size=(240, 200)).save(staging)
    new = photos / "red-circle-new.jpg"
    staging.rename(new)
    qtbot.waitUntil(lambda: shown_paths(window, 1) == [str(new)], timeout=30_000)
    window.engine.refresh_status()

    from clipdesk.ui.folders import FoldersDialog

    dialog = FoldersDialog(window.engine, window)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitUntil(lambda: dialog.roots.topLevelItemCount() == 1
                    and dialog.roots.topLevelItem(0).text(4) == "live", timeout=10_000)
    qtbot.waitUntil(lambda: "1 live" in window.library_label.text(), timeout=10_000)
