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


def test_a_refresh_keeps_scroll_selection_and_the_open_preview(qtbot, open_window, tmp_path,
                                                                trained_model):
    """A photo arriving re-runs the open search: the grid must not jump to the top, the
    selection must stay on the same photos and an open preview on the same photo."""
    from clipdesk.core import models
    from clipdesk.core.indexer import Indexer
    from clipdesk.core.library import Library

    photos = tmp_path / "photos"
    photos.mkdir()
    rng = np.random.default_rng(8)
    for i in range(40):
        color, shape = tinyclip.CLASSES[i % len(tinyclip.CLASSES)]
        tinyclip.draw_shape(color, shape, rng, size=(200, 160)).save(
            photos / f"{color}-{shape}-{i}.jpg")
    library = Library(tmp_path / "lib")
    encoder = models.load(models.ModelSpec.parse(trained_model), device="cpu")
    Indexer(library, encoder, on_progress=lambda *_: None).run([photos])
    library.close()

    window = open_window(tmp_path / "lib")
    window.resize(700, 500)  # 40 tiles do not fit: the grid scrolls
    wait_ready(qtbot, window)
    engine = window.engine
    qtbot.waitUntil(lambda: engine.watch_states().get(str(photos)) == "live", timeout=30_000)
    type_query(qtbot, window, "a photo of a red circle")
    window.set_auto_cutoff(False)  # all 40 results, not only the best few: the grid scrolls
    view, model = window.view, window.model
    assert model.rowCount() == 40
    bar = view.verticalScrollBar()
    qtbot.waitUntil(lambda: bar.maximum() > 0, timeout=5_000)  # laid out again: it scrolls
    bar.setValue(bar.maximum() // 2)
    scroll = bar.value()
    row = model.rowCount() // 2
    picked = model.path_at(row)
    view.setCurrentIndex(model.index(row))
    window.open_preview(row)
    qtbot.waitUntil(lambda: window.preview is not None and window.preview.isVisible(),
                    timeout=10_000)
    preview = window.preview
    assert preview.path == picked

    new = photos / "red-circle-new.jpg"  # the best match for the query: it goes first
    staging = tmp_path / "staging.jpg"
    tinyclip.draw_shape("red", "circle", rng, size=(240, 200)).save(staging)
    with qtbot.waitSignal(engine.searchAnswered, timeout=30_000):
        staging.rename(new)
    qtbot.waitUntil(lambda: model.row_of(str(new)) is not None, timeout=10_000)
    assert model.path_at(view.currentIndex().row()) == picked  # the same photo, one row on
    assert [model.path_at(i.row()) for i in view.selectedIndexes()] == [picked]
    assert bar.value() == scroll
    assert preview.path == picked and preview.row == model.row_of(picked)
    assert preview.position_label.text().startswith(f"{model.row_of(picked) + 1:,} of 41")
