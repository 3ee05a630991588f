"""A large library's search answers its first page first, then every result as a refresh of
the same query (the window keeps its place when the rest arrives)."""

from __future__ import annotations

from PySide6.QtCore import QCoreApplication

from clipdesk.core.query import Query
from clipdesk.ui import searchcontrol
from clipdesk.ui.searchcontrol import SearchController
from clipdesk.ui.settings import Settings
from clipdesk.ui.workers import Pool


def _answers(qtbot, library, encoder, row, query: Query) -> list:
    pool = Pool("search", 1)
    control = SearchController(pool, Settings())
    control.use(library, row, encoder)
    answers: list = []
    control.answered.connect(answers.append)
    try:
        control.search(query)
        pool.wait(30_000)  # the job has run; what it reported is queued to this thread
        qtbot.waitUntil(lambda: control._running is None, timeout=30_000)
        QCoreApplication.processEvents()
    finally:
        pool.cancel_all()
        pool.wait(30_000)
    return answers


def test_a_large_library_answers_the_first_page_then_all(qtbot, shapes, monkeypatch):
    library, encoder, row = shapes
    monkeypatch.setattr(searchcontrol, "FIRST_PAGE", 4)
    monkeypatch.setattr(searchcontrol, "FIRST_PAGE_ABOVE", 0)  # as if it were large
    query = Query("a photo of a red circle")
    first, full = _answers(qtbot, library, encoder, row, query)
    assert first.query == full.query == query and first.generation == full.generation
    assert len(first.results) == 4 < len(full.results)
    assert first.results.paths == full.results.paths[:4]  # the same best photos, in order


def test_a_small_library_answers_once(qtbot, shapes, monkeypatch):
    library, encoder, row = shapes
    monkeypatch.setattr(searchcontrol, "FIRST_PAGE", 4)  # the library is below FIRST_PAGE_ABOVE
    answers = _answers(qtbot, library, encoder, row, Query("a photo of a red circle"))
    assert len(answers) == 1 and len(answers[0].results) > 4
