"""A typed query never waits behind a browse listing: listings run on their own thread, and a
listing whose answer would be dropped (a query typed, another folder chosen) is asked to stop.
The listing is made slow deterministically: it blocks until the test lets it go."""

from __future__ import annotations

import threading
from datetime import datetime

from test_controllers import drain
from uihelpers import photo_class, shown_paths, wait_ready

from clipdesk.core import browse
from clipdesk.core.library import Library
from clipdesk.core.query import Filters, Query
from clipdesk.ui.searchcontrol import SearchController
from clipdesk.ui.settings import Settings


class BlockedListing:
    """Stands in for ``browse.listing``: each call blocks until ``release`` is set, then lists
    for real. Records how each call ended ("listed" or "stopped") and the calls running."""

    def __init__(self, monkeypatch):
        self.real = browse.listing
        self.release = threading.Event()
        self.started = threading.Event()
        self.lock = threading.Lock()
        self.running = 0
        self.ended: list[str] = []
        self.stops: list = []  # each call's ``stopped`` callable (None when not given)
        monkeypatch.setattr(browse, "listing", self)

    def __call__(self, *args, **kwargs):
        with self.lock:
            self.running += 1
            self.stops.append(kwargs.get("stopped"))
        self.started.set()
        try:
            assert self.release.wait(60)
            found = self.real(*args, **kwargs)
        except browse.Stopped:
            with self.lock:
                self.ended.append("stopped")
            raise
        finally:
            with self.lock:
                self.running -= 1
        with self.lock:
            self.ended.append("listed")
        return found


def test_a_query_typed_while_the_library_is_listed_is_answered_before_the_listing_ends(
        qtbot, open_window, library_copy, monkeypatch):
    listing = BlockedListing(monkeypatch)
    window = open_window(library_copy)
    engine = window.engine
    try:
        qtbot.waitUntil(listing.started.is_set, timeout=60_000)  # the window's first listing
        wait_ready(qtbot, window)
        assert listing.running == 1 and window.model.rowCount() == 0
        field = window.search_bar.field
        field.setFocus()
        with qtbot.waitSignal(engine.searchAnswered, timeout=10_000,
                              check_params_cb=lambda answer: answer.timeline is None):
            qtbot.keyClicks(field, "a photo of a red circle")
        # shown while the listing still runs
        assert listing.running == 1 and not listing.ended
        assert window.view.sections is None and window.model.rowCount() == 24
        assert [photo_class(p) for p in shown_paths(window, 2)] == ["red-circle"] * 2
    finally:
        listing.release.set()
    qtbot.waitUntil(lambda: listing.running == 0 and not engine.browse_pool.running(),
                    timeout=30_000)
    qtbot.wait(50)  # what the listing reported is delivered, and dropped
    # the listing was asked to stop when the query was typed, and stopped without listing
    assert listing.ended and set(listing.ended) == {"stopped"}
    assert window.view.sections is None and window.last_answer.timeline is None
    assert [photo_class(p) for p in shown_paths(window, 2)] == ["red-circle"] * 2


def test_a_listing_superseded_by_another_stops_and_only_the_newest_is_answered(
        qtbot, library_copy, pools, monkeypatch):
    listing = BlockedListing(monkeypatch)
    library = Library(library_copy)
    control = SearchController(pools("search"), Settings(), browse_pool=pools("browse"))
    control.set_library(library)
    answers = []
    control.answered.connect(answers.append)
    try:
        control.search(Query(filters=Filters(after=datetime(2999, 1, 1).timestamp())))  # blocked
        assert listing.started.wait(30)
        stale = listing.stops[0]
        assert stale is not None and not stale()
        newest = control.search(Query())  # other filters chosen: the first one is stale
        assert stale()  # asked to stop at once
    finally:
        listing.release.set()
    with qtbot.waitSignal(control.answered, timeout=30_000):
        pass
    drain(control.browse_pool)
    assert listing.ended == ["stopped", "listed"]  # the stale one never finished its listing
    assert [a.generation for a in answers] == [newest] and len(answers[0].results) == 24
    library.close()


def test_a_listing_on_the_same_thread_as_searches_still_stops_for_a_typed_query(
        qtbot, library_copy, trained_model, pools, monkeypatch):
    """Without a browse pool (one thread for both, as before) the typed query still only
    waits until the stale listing notices it is stale, not for the whole listing."""
    from clipdesk.core import models
    from clipdesk.core.models import ModelSpec

    listing = BlockedListing(monkeypatch)
    library = Library(library_copy)
    encoder = models.load(ModelSpec.parse(trained_model), device="cpu")
    control = SearchController(pools("search"), Settings())
    control.use(library, library.model_row(encoder.spec), encoder)
    answers = []
    control.answered.connect(answers.append)
    try:
        control.search(Query())
        assert listing.started.wait(30)
        typed = control.search(Query("a photo of a red circle"))
        assert listing.stops[0]()
    finally:
        listing.release.set()
    with qtbot.waitSignal(control.answered, timeout=30_000):
        pass
    drain(control.pool)
    assert listing.ended == ["stopped"]
    assert [a.generation for a in answers] == [typed]
    assert photo_class(answers[0].results.paths[0]) == "red-circle"
    library.close()
