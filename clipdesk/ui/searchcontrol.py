"""Searching: the ``Searcher`` and which model answers, one query at a time on the ``search``
pool, browse listings (an empty query) one at a time on the ``browse`` pool, and tags.

Each query is a generation: only the newest one's answer is shown. One query and one listing
run at a time; while one runs, the newest of its kind waits in its place (the ones typed in
between never run). Listings have their own thread so that a query typed while the library
is listed (~0.1 s at 100,000 photos) starts at once rather than behind it; and a running job
whose answer would be dropped (a newer query or listing was asked) is asked to stop: a
listing stops within milliseconds (``core.browse.listing``'s ``stopped``), so a folder chosen
twice fast does not wait for the first folder's listing either. A query typed before there is
a searcher, or one that needs the model while it is still loading, is kept and runs as soon
as the engine hands over a searcher that can answer.

Jobs get the searcher and the values they need as arguments and return plain data; the
label vectors for tags are cached here, on the GUI thread, from what the tags job returns.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, Signal, Slot

from clipdesk.core.query import Query
from clipdesk.ui.answers import ModelNotReady, ModelState, ResultSet, SearchAnswer, Timeline
from clipdesk.ui.settings import Settings
from clipdesk.ui.workers import Cancelled, Generations, JobError, Pool, Worker

if TYPE_CHECKING:
    from clipdesk.core.catalog import ModelRow
    from clipdesk.core.library import Library
    from clipdesk.core.models import Encoder
    from clipdesk.core.search import Searcher

log = logging.getLogger(__name__)

TAGS_SHOWN = 5
# Above this many photos the first FIRST_PAGE results are answered first and the rest follow
# as a refresh of the same query: the app's 2,000 results take longer than the 50 ms a first
# screen may, mostly re-scoring an i8 index's candidates from the catalog (at 1M photos: first
# page 20.9 ms p50, all 44.3 ms, benchmarks/README.md, query_latency.py); a small library
# answers at once.
FIRST_PAGE = 200
FIRST_PAGE_ABOVE = 20_000


@dataclass
class Tags:
    """What the tags job returns: the ranked labels, and the label set with its vectors for
    the model that ranked them (the GUI thread caches those per model)."""

    path: str
    ranked: list[tuple[str, float]]
    model: str
    labels: list[str]
    vectors: Any  # np.ndarray (len(labels), dim)


def waiting_reason(model_state: ModelState, model_message: str, library: Library | None) -> str:
    """Why a query cannot be answered yet, for the user."""
    if model_state in (ModelState.MISSING, ModelState.FAILED):
        return "Searching needs the model: " + model_message
    if library is None:
        return "Opening the library…"
    if not library.catalog.roots():
        return "Add a folder of photos to search them."
    return "Loading the model… your search runs as soon as it is ready."


def encoder_for_search(encoder: Encoder | None) -> Callable[[], Encoder]:
    """The searcher's encoder factory: ``encoder``, or ModelNotReady while there is none (a
    query that needs no model, "like this" photos of the library, still runs)."""

    def get() -> Encoder:
        if encoder is None:
            raise ModelNotReady()
        return encoder

    return get


def search_job(worker: Worker, searcher: Searcher, query: Query, n: int,
               pair_raws: bool = False) -> SearchAnswer:
    """The best ``n`` results. In a large library the first page is reported first
    (``worker.progress``), then all ``n`` are the result."""
    start = time.perf_counter()
    if n > FIRST_PAGE and len(searcher.index) > FIRST_PAGE_ABOVE:
        worker.progress(answer_for(worker, searcher, query, FIRST_PAGE, pair_raws, start))
        worker.check()
    return answer_for(worker, searcher, query, n, pair_raws, start)


def answer_for(worker: Worker, searcher: Searcher, query: Query, n: int, pair_raws: bool,
               start: float) -> SearchAnswer:
    from clipdesk.core.cutoff import adaptive_cutoff

    hits = searcher.answer(query, n)  # the same query language and filters as the CLI
    raws: dict[int, str] = {}
    if pair_raws and query.filters.media != "raw":  # a RAW and its JPEG: one photo, the JPEG
        from clipdesk.core import pairs

        hits, raws = pairs.fold_hits(hits, dropped=(*query.exclude, *query.negative_images))
    results = ResultSet.from_hits(hits)
    results.raws = raws
    return SearchAnswer(worker.generation, query, results, time.perf_counter() - start,
                        searcher.model.spec, cutoff=adaptive_cutoff(results.scores))


def browse_job(worker: Worker, library: Library, query: Query,
               pair_raws: bool = False) -> SearchAnswer:
    """An empty query: the whole library (within the query's filters), newest first, with its
    months and days. Run here, not on the GUI thread: 100,000 rows take a tenth of a second."""
    import numpy as np

    from clipdesk.core import browse

    start = time.perf_counter()
    try:
        found = browse.listing(library.catalog, query.filters, pair_raws,
                               stopped=lambda: worker.cancelled)
    except browse.Stopped:
        raise Cancelled() from None
    results = ResultSet(found.paths, found.hashes, found.ids,
                        np.zeros(len(found), np.float32), found.dates, found.raws,
                        {i: (None, d) for i, d in found.durations.items()})
    return SearchAnswer(worker.generation, query, results, time.perf_counter() - start, "",
                        Timeline(found.months, found.days))


def tags_job(worker: Worker, searcher: Searcher, path: str, n: int,
             cached: tuple[list[str], Any] | None) -> Tags:
    """Rank labels for the photo at ``path``; the label vectors come from ``cached`` when the
    GUI thread has them for this model, else from the catalog (computed on a miss)."""
    from clipdesk.core import tags

    if cached is None:
        labels = tags.label_set(searcher.catalog)
        vectors = tags.label_vectors(searcher.catalog, searcher.model,
                                     lambda: searcher.encoder, labels)
    else:
        labels, vectors = cached
    ranked = tags.rank(searcher.image_vector(Path(path)), labels, vectors, n)
    return Tags(path, ranked, searcher.model.spec, labels, vectors)


class SearchController(QObject):
    """Owns the searcher, the query generations and the label-vector cache. Queries and tags
    run on ``pool``, listings on ``browse_pool`` (without one, on ``pool`` too: one thread
    for both, a typed query then waits until a stale listing has stopped)."""

    answered = Signal(object)  # SearchAnswer of the current generation
    waiting = Signal(str)  # why the current query is not answered yet
    failed = Signal(str)
    tagsReady = Signal(str, object)  # path, [(label, share)]
    message = Signal(str)
    unexpectedError = Signal(object)  # JobError

    def __init__(self, pool: Pool, settings: Settings, gens: Generations | None = None,
                 waiting_reason: Callable[[], str] | None = None,
                 parent: QObject | None = None, browse_pool: Pool | None = None):
        super().__init__(parent)
        self.pool = pool
        self.browse_pool = browse_pool or pool
        self.settings = settings
        self.gens = gens or Generations()
        # why a query cannot run yet: the engine knows (the model's state, the library)
        self.waiting_reason = waiting_reason or (
            lambda: "Loading the model… your search runs as soon as it is ready.")
        self.searcher: Searcher | None = None
        self.library: Library | None = None  # what an empty query browses
        self.search_spec: str | None = None  # the model answering searches (may lag the model's)
        self._pending: Query | None = None  # asked, not answered yet
        self._last: Query | None = None  # the query on screen: refreshed when photos change
        self._running: Worker | None = None  # the query on ``pool``
        self._queued: tuple[int, Query] | None = None  # the newest query waiting for it
        self._listing: Worker | None = None  # the listing on ``browse_pool``
        self._queued_listing: tuple[int, Query] | None = None
        self._label_vectors: dict[str, tuple[list[str], Any]] = {}

    # ================================================================ the searcher

    def use(self, library: Library, row: ModelRow, encoder: Encoder | None = None) -> None:
        """Answer with the model ``row`` from now on (``encoder`` None: not loaded yet)."""
        from clipdesk.core.search import Searcher

        self.searcher = Searcher(library, row, encoder_for_search(encoder))
        self.search_spec = row.spec
        self.library = library

    def set_library(self, library: Library, browse: Query | None = None) -> None:
        """Browse ``library`` (an empty query needs no model, so no searcher). ``browse``:
        the empty query to show when nothing has been asked yet (``run_pending`` runs it)."""
        self.library = library
        if browse is not None and browse.empty and self._pending is None and self._last is None:
            self._pending = browse

    def model_ready(self, library: Library, row: ModelRow, encoder: Encoder,
                    complete: bool) -> None:
        """The model ``row`` is loaded and its index open. It answers now unless another
        model does and this one's index is not complete yet: then the other keeps answering
        until it is (``index_complete``)."""
        if self.searcher is None or self.search_spec == row.spec or complete:
            self.use(library, row, encoder)

    def index_complete(self, library: Library, row: ModelRow, encoder: Encoder) -> None:
        """An index run for ``row`` finished: if another model answered, this one does now."""
        if row.spec == self.search_spec:
            return
        self.use(library, row, encoder)
        self.message.emit(f"Now searching with {encoder.spec.text}.")
        self.keep_current()

    def keep_current(self) -> None:
        """The photos changed: the query on screen is to be asked again (``run_pending``)."""
        if self._pending is None and self._last is not None:
            self._pending = self._last

    def needs_model(self, why: str) -> None:
        """The model cannot be loaded: a query waiting for it says why."""
        if self._pending is not None and self.searcher is None:
            self.waiting.emit("Searching needs the model: " + why)

    # ================================================================ searching

    def search(self, query: Query) -> int:
        """Answer ``query`` in the background; returns its generation. Only the newest
        generation's answer is emitted. An empty query browses the library."""
        gen = self.gens.next("search")
        self._last = query
        self._pending = query
        self._stop_stale()
        if not self._can_answer(query):
            if not query.empty:  # browsing waits for the library without a word
                self.waiting.emit(self.waiting_reason())
            return gen
        if query.empty and self._listing is not None:  # one at a time; the newest waits
            self._queued_listing = (gen, query)
            return gen
        if not query.empty and self._running is not None:
            self._queued = (gen, query)
            return gen
        self._start(gen, query)
        return gen

    def _stop_stale(self) -> None:
        """A new generation began: what waits will never run, and the running jobs are asked
        to stop (their answers would be dropped): a listing stops within milliseconds, a
        large library's search after its first page."""
        self._queued = self._queued_listing = None
        for worker in (self._running, self._listing):
            if worker is not None:
                worker.cancel()

    def run_pending(self) -> None:
        """Ask the query that is still unanswered (or to be refreshed), if it can run now."""
        if self._pending is not None and self._can_answer(self._pending):
            self.search(self._pending)

    def _can_answer(self, query: Query) -> bool:
        return self.library is not None if query.empty else self.searcher is not None

    def _start(self, gen: int, query: Query) -> None:
        pair = self.settings.pair_raws
        if query.empty:
            worker = Worker(browse_job, self.library, query, pair, generation=gen, name="browse")
            pool = self.browse_pool
        else:
            worker = Worker(search_job, self.searcher, query, self.settings.max_results, pair,
                            generation=gen, name="search")
            pool = self.pool
        worker.signals.progress.connect(self._on_first_page)
        worker.signals.result.connect(self._on_result)
        worker.signals.error.connect(self._on_error)
        worker.signals.finished.connect(self._on_finished)
        if query.empty:
            self._listing = worker
        else:
            self._running = worker
        pool.start(worker)

    @Slot(int, object)
    def _on_first_page(self, gen: int, answer: SearchAnswer) -> None:
        """The first page of a large library's answer; the whole answer follows."""
        if self.gens.is_current("search", gen):
            self.answered.emit(answer)

    @Slot(int, object)
    def _on_result(self, gen: int, answer: SearchAnswer) -> None:
        if self.gens.is_current("search", gen):
            self._pending = None
            self.answered.emit(answer)

    @Slot(int, object)
    def _on_error(self, gen: int, error: JobError) -> None:
        from clipdesk.core.errors import ClipDeskError

        if not self.gens.is_current("search", gen):
            return
        if isinstance(error.exc, ModelNotReady):
            self.waiting.emit(self.waiting_reason())  # kept; runs when the model is ready
        elif isinstance(error.exc, ClipDeskError):
            self._pending = None
            self.failed.emit(str(error))
        else:
            self._pending = None
            log.error("search failed:\n%s", error.traceback)
            self.failed.emit(f"the search failed: {error}")
            self.unexpectedError.emit(error)

    @Slot(int)
    def _on_finished(self, finished: int) -> None:
        """A query or a listing is done: the newest one waiting for its pool starts."""
        if self._listing is not None and self._listing.generation == finished:
            self._listing, queued, self._queued_listing = None, self._queued_listing, None
        elif self._running is not None and self._running.generation == finished:
            self._running, queued, self._queued = None, self._queued, None
        else:
            return
        if queued is not None:
            gen, query = queued
            if self.gens.is_current("search", gen) and self._can_answer(query):
                self._start(gen, query)

    # ================================================================ tags

    def tags(self, path: str, n: int = TAGS_SHOWN) -> None:
        """Rank labels for a photo; answers with ``tagsReady(path, ranked)``."""
        if self.searcher is None:
            self.message.emit("Tags need the model, which is not ready yet.")
            return
        cached = self._label_vectors.get(self.searcher.model.spec)
        worker = Worker(tags_job, self.searcher, path, n, cached, name="tags")
        worker.signals.result.connect(self._on_tags)
        worker.signals.error.connect(self._on_tags_error)
        self.pool.start(worker)

    @Slot(int, object)
    def _on_tags(self, _gen: int, tags: Tags) -> None:
        self._label_vectors.setdefault(tags.model, (tags.labels, tags.vectors))
        self.tagsReady.emit(tags.path, tags.ranked)

    @Slot(int, object)
    def _on_tags_error(self, _gen: int, error: JobError) -> None:
        from clipdesk.core.errors import ClipDeskError

        if isinstance(error.exc, ModelNotReady):
            self.message.emit("Tags need the model, which is still loading.")
        elif isinstance(error.exc, ClipDeskError):
            self.message.emit(str(error))
        else:
            log.error("tags failed:\n%s", error.traceback)
            self.unexpectedError.emit(error)
