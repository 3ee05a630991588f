"""Helpers for driving the window in tests (fixtures are in conftest.py)."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, QRect, QUrl, Slot


def wait_ready(qtbot, window, timeout: int = 60_000) -> None:
    """Until the library is open, the model loaded and indexing (if any) finished."""
    from clipdesk.ui.engine import ModelState

    engine = window.engine
    qtbot.waitUntil(lambda: engine.model_state is ModelState.READY, timeout=timeout)
    qtbot.waitUntil(lambda: not engine.indexing and not engine.writer.running(), timeout=timeout)


def type_query(qtbot, window, text: str) -> None:
    """Type into the search bar like a user, then wait for the answer on screen."""
    from clipdesk.core.query import parse

    typed = parse(text)
    field = window.search_bar.field
    field.setFocus()
    field.selectAll()
    # this text's own answer: not a browse listing (the library's, or a folder's) still on its
    # way when the typing started
    with qtbot.waitSignal(window.engine.searchAnswered, timeout=30_000,
                          check_params_cb=lambda answer: answer.timeline is None
                          and (answer.query.text, answer.query.negatives)
                          == (typed.text, typed.negatives)):
        qtbot.keyClicks(field, text)


def index_folder(library: Path, photos: Path, model: str):
    """Index ``photos`` into the library folder ``library`` with ``model`` (a spec), as
    ``clipdesk index`` would, before a window opens it; the IndexReport."""
    from clipdesk.core import models
    from clipdesk.core.indexer import Indexer
    from clipdesk.core.library import Library

    library_ = Library(library)
    try:
        encoder = models.load(models.ModelSpec.parse(model), device="cpu")
        return Indexer(library_, encoder, on_progress=lambda *_: None).run([photos])
    finally:
        library_.close()


def answer_after(qtbot, window, act):
    """The SearchAnswer of what ``act()`` starts (the next answer the engine gives)."""
    with qtbot.waitSignal(window.engine.searchAnswered, timeout=30_000) as answered:
        act()
    return answered.args[0]


def find_similar_to(qtbot, window, row: int) -> None:
    """Photo ▸ Find similar on the photo at ``row`` (the current one, nothing else selected),
    until its answer is on screen."""
    view = window.view
    view.setFocus()
    view.setCurrentIndex(window.model.index(row))
    view.clearSelection()
    with qtbot.waitSignal(window.engine.searchAnswered, timeout=30_000):
        window.find_similar()


def shown_paths(window, n: int | None = None) -> list[str]:
    model = window.model
    rows = model.rowCount() if n is None else min(n, model.rowCount())
    return [model.hit(r).path for r in range(rows)]


def photo_class(path: str) -> str:
    return "-".join(Path(path).stem.split("-")[:2])


def drop(window, mime) -> None:
    """Drag ``mime`` onto the middle of the window and drop it, as a file manager would."""
    from PySide6.QtCore import QPointF, Qt
    from PySide6.QtGui import QDragEnterEvent, QDropEvent
    from PySide6.QtWidgets import QApplication

    pos = QPointF(window.width() / 2, window.height() / 2)
    buttons, modifiers = Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier
    enter = QDragEnterEvent(pos.toPoint(), Qt.DropAction.CopyAction, mime, buttons, modifiers)
    QApplication.sendEvent(window, enter)
    assert enter.isAccepted()
    QApplication.sendEvent(window, QDropEvent(pos, Qt.DropAction.CopyAction, mime, buttons,
                                              modifiers))


class UrlCatcher(QObject):
    """Stands in for the system's viewer, player and file manager: Qt hands it the file://
    URLs it would open (``QDesktopServices.setUrlHandler("file", catcher, "handle")``)."""

    def __init__(self):
        super().__init__()
        self.urls: list[QUrl] = []

    @Slot(QUrl)
    def handle(self, url: QUrl) -> None:
        self.urls.append(url)


def dark_tile_pixels(window, row: int, corner: str) -> int:
    """Near-black pixels in one part of a tile's picture square, as painted: where a badge's
    dark box goes (the test photos are light and brightly coloured). ``corner``: "left" (the
    left half: the RAW badge) or "bottom-right" (the quarter of a video's length badge)."""
    from clipdesk.ui.results import MARGIN

    view, tile = window.view, window.settings.thumb_size
    rect = view.visualRect(window.model.index(row))
    left, top = rect.x() + (rect.width() - tile) // 2, rect.y() + MARGIN
    square = (QRect(left, top, tile // 2, tile) if corner == "left" else
              QRect(left + tile // 2, top + tile // 2, tile // 2, tile // 2))
    image = view.viewport().grab(square).toImage()
    return sum(max(c.red(), c.green(), c.blue()) < 100
               for c in (image.pixelColor(x, y) for x in range(image.width())
                         for y in range(image.height())))
