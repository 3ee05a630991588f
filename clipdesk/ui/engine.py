"""The app's engine: the library, the model, and the thread pools that do the heavy work.

Three pools, one job each (Picard's pattern):

* ``writer`` - one thread, the only writer of the catalog and the vector index: opening
  (and healing) the index, adding and removing folders, indexing, retrying;
* ``search`` - one thread: queries, "find similar", tags; a newer query replaces a queued one
  and an answer from an older generation is dropped;
* ``general`` - model loading and downloading, status counts, image loading for the preview.

Nothing here imports a runtime: ``models.load`` does that, inside a worker, after the window is up.
A search typed before the model is ready is kept and answered as soon as the model is loaded.
"""

from __future__ import annotations

import enum
import gc
import io
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PySide6.QtCore import QObject, QTimer, Signal, Slot

from clipdesk.core.query import Query
from clipdesk.core.status import LibraryStatus
from clipdesk.ui.settings import Settings
from clipdesk.ui.workers import Generations, JobError, Pool, Worker

if TYPE_CHECKING:
    from clipdesk.core.catalog import ModelRow
    from clipdesk.core.indexer import Indexer, IndexReport
    from clipdesk.core.library import Library
    from clipdesk.core.models import Encoder, ModelSpec
    from clipdesk.core.search import Hit, Searcher
    from clipdesk.core.watcher import LiveIndexer

log = logging.getLogger(__name__)

TAGS_SHOWN = 5


WATCH_TICK_MS = 250  # how often settled folder changes go to the writer
ROOT_CHECK_TICKS = 8  # look at the roots themselves (unplugged drives) every 2 s
CLAIM_EVERY_MS = 5000  # searching only: how often to try to become the library's writer


class ModelState(enum.Enum):
    UNKNOWN = "unknown"  # the library is not open yet
    LOADING = "loading"
    DOWNLOADING = "downloading"
    READY = "ready"
    MISSING = "missing"  # not on this computer: offer the download or a model folder
    FAILED = "failed"  # broken spec, bad folder, unsafe checkpoint: the message says what


class ModelNotReady(Exception):
    """A query needs the model's text or image tower, and the model is still loading."""


@dataclass
class ResultSet:
    """Search hits as columns. 100,000 ``Hit`` objects would each be tracked by Python's
    garbage collector, whose full passes over them stall the GUI thread; strings and arrays
    are not tracked. Built in the search thread; ``hit(i)`` makes one ``Hit`` on demand."""

    paths: list[str]
    hashes: list[str | None]
    ids: np.ndarray  # int64 file ids
    scores: np.ndarray  # float32
    dates: np.ndarray  # float64 Unix times, -inf when unknown

    @classmethod
    def from_hits(cls, hits: list[Hit]) -> ResultSet:
        n = len(hits)
        return cls(
            [h.path for h in hits], [h.hash for h in hits],
            np.fromiter((h.file_id for h in hits), np.int64, n),
            np.fromiter((h.score for h in hits), np.float32, n),
            np.fromiter((h.taken_at if h.taken_at is not None else -np.inf for h in hits),
                        np.float64, n))

    @classmethod
    def empty(cls) -> ResultSet:
        return cls([], [], np.zeros(0, np.int64), np.zeros(0, np.float32),
                   np.zeros(0, np.float64))

    def __len__(self) -> int:
        return len(self.paths)

    def hit(self, i: int) -> Hit:
        from clipdesk.core.search import Hit

        date = float(self.dates[i])
        return Hit(self.paths[i], float(self.scores[i]), int(self.ids[i]),
                   date if np.isfinite(date) else None, self.hashes[i])


@dataclass
class SearchAnswer:
    generation: int
    query: Query
    results: ResultSet
    seconds: float
    model: str


@dataclass
class PhotoInfo:
    """What the preview shows besides the picture."""

    path: str
    size: int | None
    width: int | None
    height: int | None
    taken_at: float | None
    indexed: bool


@dataclass
class _Opened:
    library: Library
    row: ModelRow | None
    roots: int
    busy: str | None = None  # another process is updating the library: why we only search


def _download_progress_class(worker: Worker):
    """A tqdm-compatible class (huggingface_hub creates it with tqdm's keyword arguments and
    calls ``update(n)``) that reports bytes to the GUI and aborts when the job is cancelled."""
    from tqdm import tqdm

    class QtProgress(tqdm):
        def __init__(self, *args, **kwargs):
            kwargs.pop("name", None)
            kwargs["file"] = io.StringIO()
            kwargs["disable"] = False
            super().__init__(*args, **kwargs)

        def update(self, n=1):
            worker.check()  # raises Cancelled: the download stops within one chunk
            out = super().update(n)
            worker.progress((str(self.desc or "model"), int(self.n), int(self.total or 0)))
            return out

    return QtProgress


def _import_model_code(worker: Worker, device: str) -> None:
    from clipdesk.core import models

    models.import_runtime(device)  # onnxruntime (or torch and open_clip for cuda / mps)


class Engine(QObject):
    """Owns the library and the models; every slow call runs in one of its pools."""

    libraryOpened = Signal(int)  # number of folders in the library
    libraryFailed = Signal(str)
    modelStateChanged = Signal(object, str)  # ModelState, message for the user
    downloadProgress = Signal(str, int, int)  # file, bytes done, bytes total
    searchAnswered = Signal(object)  # SearchAnswer of the current generation
    searchWaiting = Signal(str)  # why the current query is not answered yet
    searchFailed = Signal(str)
    indexingStarted = Signal(str)  # what is happening ("Scanning folders…")
    indexingProgress = Signal(int, int)  # done, total
    indexingFinished = Signal(object)  # IndexReport, or None when it could not run
    libraryChanged = Signal()  # folders or photos changed: counts are stale
    statusReady = Signal(object)  # LibraryStatus
    tagsReady = Signal(str, object)  # path, [(label, share)]
    infoReady = Signal(object)  # PhotoInfo
    message = Signal(str)  # one line for the status bar
    unexpectedError = Signal(object)  # JobError: the crash dialog shows it

    def __init__(self, folder: Path, model: str | None = None, device: str | None = None,
                 settings: Settings | None = None, parent: QObject | None = None):
        super().__init__(parent)
        self.folder = Path(folder)
        self.settings = settings or Settings()
        self.cli_model = model
        self.device = device or self.settings.device or "auto"
        self.writer = Pool("writer", 1)
        self.search_pool = Pool("search", 1)
        self.general = Pool("general", 2)
        self.gens = Generations()

        self.library: Library | None = None
        self.spec: ModelSpec | None = None  # the model the library is (being) indexed with
        self.model_state = ModelState.UNKNOWN
        self.model_message = ""
        self.encoder: Encoder | None = None  # the loaded model for ``spec``
        self.searcher: Searcher | None = None
        self.search_spec: str | None = None  # the model answering searches (may lag ``spec``)
        self._search_encoder: Encoder | None = None
        self._pending_query: Query | None = None
        self._search_running: Worker | None = None
        self._search_queued: tuple[int, Query] | None = None
        self._model_worker: Worker | None = None
        self._indexer: Indexer | None = None
        self._paused = False
        self._index_after_load = True
        self._after_model: list[Callable[[], None]] = []  # writer jobs waiting for the model
        self._label_vectors: dict[str, tuple[list[str], Any]] = {}
        self._closing = False
        self._started = False
        self._last_query: Query | None = None
        self._index_jobs = 0
        # the folder watcher: watchdog records changes; a timer hands settled ones to the writer
        self.watcher = None  # clipdesk.core.watcher.Watcher, once the first index run is done
        self._live: LiveIndexer | None = None  # the watch loop's steps, on the writer
        self._sync_running = False
        self._watch_ticks = 0
        # another process (``clipdesk watch``) may hold the library's writer lock: search only,
        # and try to take over now and then
        self._busy: str | None = None
        self._claim_timer = QTimer(self)
        self._claim_timer.setInterval(CLAIM_EVERY_MS)
        self._claim_timer.timeout.connect(self._try_claim)
        self._watch_timer = QTimer(self)
        self._watch_timer.setInterval(WATCH_TICK_MS)
        self._watch_timer.timeout.connect(self._poll_watcher)

    # ================================================================ start-up

    def start(self) -> None:
        """Open the library (and heal its index) on the writer, then load the model."""
        if self._closing or self._started:
            return
        self._started = True
        # the runtime takes a while to import: start now, while the library opens
        self.general.start(Worker(_import_model_code, self.device, name="import runtime"))
        worker = Worker(self._open_job, name="open library")
        worker.signals.result.connect(self._on_opened)
        worker.signals.error.connect(self._on_open_failed)
        self.writer.start(worker)

    def _open_job(self, worker: Worker) -> _Opened:
        from clipdesk.core import models
        from clipdesk.core.errors import LibraryBusy
        from clipdesk.core.library import Library

        library = Library(self.folder, role="the ClipDesk app")
        busy = None
        try:
            library.claim_writer()
        except LibraryBusy as exc:
            busy = str(exc)
        spec = models.choose_spec(self.cli_model, library.model_spec or self.settings.model or None)
        row = library.model_row(spec)
        if row is not None:
            library.vectors(row, persist=True)  # heal here, on the writer, once
        return _Opened(library, row, len(library.catalog.roots()), busy)

    @Slot(int, object)
    def _on_opened(self, _gen: int, opened: _Opened) -> None:
        from clipdesk.core import models

        self.library = opened.library
        if opened.busy:
            self._busy = opened.busy
            self.message.emit(f"Searching only: {opened.busy[0].upper()}{opened.busy[1:]}")
            self._claim_timer.start()
        self.spec = models.choose_spec(self.cli_model,
                                       self.library.model_spec or self.settings.model or None)
        if opened.row is not None:
            self._make_searcher(opened.row)
        self.libraryOpened.emit(opened.roots)
        self.refresh_status()
        self.load_model(download=False)
        self._run_pending_query()  # "like this" photos of the library need no model

    @Slot(int, object)
    def _on_open_failed(self, _gen: int, error: JobError) -> None:
        from clipdesk.core.errors import ClipDeskError

        if isinstance(error.exc, ClipDeskError):
            self.libraryFailed.emit(str(error))
        else:
            log.error("cannot open the library %s:\n%s", self.folder, error.traceback)
            self.libraryFailed.emit(f"cannot open the library {self.folder}: {error}")

    # ================================================================ the model

    def load_model(self, download: bool = False) -> None:
        """Load ``spec`` in the background (downloading it first when asked)."""
        if self.spec is None or self._closing:
            return
        gen = self.gens.next("model")
        state = ModelState.DOWNLOADING if download else ModelState.LOADING
        self._set_model_state(state, f"{'Downloading' if download else 'Loading'} {self.spec.text}…")
        worker = Worker(self._load_job, self.spec, self.device, download, generation=gen,
                        name="load model")
        worker.signals.result.connect(self._on_model_loaded)
        worker.signals.error.connect(self._on_model_failed)
        worker.signals.cancelled.connect(self._on_model_cancelled)
        worker.signals.progress.connect(self._on_download_progress)
        self._model_worker = worker
        self.general.start(worker)

    def _load_job(self, worker: Worker, spec: ModelSpec, device: str, download: bool) -> Encoder:
        from clipdesk.core import models

        progress = _download_progress_class(worker) if download else None
        encoder = models.load(spec, device=device, download=download, tqdm_class=progress,
                              int8=self.settings.int8)
        worker.check()
        if hasattr(encoder, "load_text"):  # ONNX: the first query must not wait for it
            encoder.load_text()
        return encoder

    def cancel_download(self) -> None:
        worker = self._model_worker
        if worker is not None and self.model_state is ModelState.DOWNLOADING:
            worker.cancel()

    def set_model(self, spec_text: str, device: str | None = None) -> None:
        """Switch to another model (or device). The library re-indexes in the background; the
        current model keeps answering searches until that is done."""
        from clipdesk.core.models import ModelSpec

        spec = ModelSpec.parse(spec_text)
        device = device or self.device
        if self.spec is not None and spec.text == self.spec.text and device == self.device:
            return
        self.settings.model = spec.text
        self.device = device
        self.pause_indexing()
        self._paused = False
        self._index_after_load = True  # the new model indexes the library once loaded
        self.spec = spec
        self.encoder = None
        self.load_model(download=False)

    @Slot(int, object)
    def _on_download_progress(self, gen: int, payload) -> None:
        if self.gens.is_current("model", gen):
            self.downloadProgress.emit(*payload)

    @Slot(int, object)
    def _on_model_loaded(self, gen: int, encoder: Encoder) -> None:
        if not self.gens.is_current("model", gen) or self._closing or self.library is None:
            return
        # the runtime and the model bring many long-lived Python objects (torch ~400,000); a full garbage
        # collection walking them holds the GUI thread for ~200 ms. Exempt them from it.
        gc.freeze()
        self.encoder = encoder
        row = self.library.model_row(encoder.spec)
        if row is not None and row.dim != encoder.dim:
            self._set_model_state(ModelState.FAILED, f"model {encoder.spec.text} does not match "
                                  "the library's index for it")
            return
        # The writer opens (or creates) this model's index before any search may touch it.
        worker = Worker(self._prepare_job, encoder, generation=gen, name="prepare index")
        worker.signals.result.connect(self._on_prepared)
        worker.signals.error.connect(self._on_model_failed)
        self.writer.start(worker)

    def _prepare_job(self, worker: Worker, encoder: Encoder) -> tuple[ModelRow, bool]:
        assert self.library is not None
        row = self.library.model_row(encoder.spec, encoder.dim)
        self.library.vectors(row, persist=True)
        counts = self.library.catalog.counts(row.id).values()
        return row, all(c["pending"] == 0 for c in counts)

    @Slot(int, object)
    def _on_prepared(self, gen: int, prepared: tuple[ModelRow, bool]) -> None:
        if not self.gens.is_current("model", gen) or self._closing:
            return
        assert self.encoder is not None
        row, complete = prepared
        self._set_model_state(ModelState.READY, f"Model {self.encoder.spec.text} "
                              f"({self.encoder.runtime}, {self.encoder.device})")
        if self.searcher is None or self.search_spec == row.spec or complete:
            self._make_searcher(row, self.encoder)
        # else: a new model; the old one answers until the new index is complete
        if (self._index_after_load and self.library is not None
                and self.library.catalog.roots()):
            self.index(None)  # catch up with what changed while the app was closed
        jobs, self._after_model = self._after_model, []
        for job in jobs:
            job()
        self._run_pending_query()

    @Slot(int, object)
    def _on_model_failed(self, gen: int, error: JobError) -> None:
        from clipdesk.core.errors import ClipDeskError, ModelUnavailable

        if not self.gens.is_current("model", gen):
            return
        if isinstance(error.exc, ModelUnavailable):
            self._set_model_state(ModelState.MISSING, str(error))
        elif isinstance(error.exc, ClipDeskError):
            self._set_model_state(ModelState.FAILED, str(error))
        else:
            log.error("the model could not be loaded:\n%s", error.traceback)
            self._set_model_state(ModelState.FAILED, f"the model could not be loaded: {error}")
        if self._pending_query is not None and self.searcher is None:
            self.searchWaiting.emit("Searching needs the model: " + self.model_message)

    @Slot(int)
    def _on_model_cancelled(self, gen: int) -> None:
        if self.gens.is_current("model", gen):
            self._set_model_state(ModelState.MISSING, "Download cancelled.")

    def _set_model_state(self, state: ModelState, message: str) -> None:
        self.model_state, self.model_message = state, message
        self.modelStateChanged.emit(state, message)

    def _make_searcher(self, row: ModelRow, encoder: Encoder | None = None) -> None:
        from clipdesk.core.search import Searcher

        assert self.library is not None
        self._search_encoder = encoder
        self.searcher = Searcher(self.library, row, self._encoder_for_search)
        self.search_spec = row.spec

    def _encoder_for_search(self) -> Encoder:
        if self._search_encoder is None:
            raise ModelNotReady()
        return self._search_encoder

    # ================================================================ searching

    def search(self, query: Query) -> int:
        """Answer ``query`` in the background; returns its generation. Only the newest
        generation's answer is emitted."""
        gen = self.gens.next("search")
        self._last_query = None if query.empty else query
        if query.empty:
            self._pending_query = None
            self._search_queued = None
            return gen
        self._pending_query = query
        if self.searcher is None:
            self.searchWaiting.emit(self._waiting_reason())
            return gen
        if self._search_running is not None:  # one at a time; the newest waits its turn
            self._search_queued = (gen, query)
            return gen
        self._start_search(gen, query)
        return gen

    def _waiting_reason(self) -> str:
        if self.model_state in (ModelState.MISSING, ModelState.FAILED):
            return "Searching needs the model: " + self.model_message
        if self.library is None:
            return "Opening the library…"
        if not self.library.catalog.roots():
            return "Add a folder of photos to search them."
        return "Loading the model… your search runs as soon as it is ready."

    def _start_search(self, gen: int, query: Query) -> None:
        worker = Worker(self._search_job, self.searcher, query, self.settings.max_results,
                        generation=gen, name="search")
        worker.signals.result.connect(self._on_search_result)
        worker.signals.error.connect(self._on_search_error)
        worker.signals.finished.connect(self._on_search_finished)
        self._search_running = worker
        self.search_pool.start(worker)

    def _search_job(self, worker: Worker, searcher: Searcher, query: Query, n: int) -> SearchAnswer:
        start = time.perf_counter()
        vector = searcher.query_vector([query.text] if query.text else [], list(query.images),
                                       list(query.negatives))
        worker.check()
        hits = searcher.search(vector, n, exclude=set(query.exclude))
        return SearchAnswer(worker.generation, query, ResultSet.from_hits(hits),
                            time.perf_counter() - start,
                            searcher.model.spec)

    @Slot(int, object)
    def _on_search_result(self, gen: int, answer: SearchAnswer) -> None:
        if self.gens.is_current("search", gen):
            self._pending_query = None
            self.searchAnswered.emit(answer)

    @Slot(int, object)
    def _on_search_error(self, gen: int, error: JobError) -> None:
        from clipdesk.core.errors import ClipDeskError

        if not self.gens.is_current("search", gen):
            return
        if isinstance(error.exc, ModelNotReady):
            self.searchWaiting.emit(self._waiting_reason())  # kept; runs when the model is ready
        elif isinstance(error.exc, ClipDeskError):
            self._pending_query = None
            self.searchFailed.emit(str(error))
        else:
            self._pending_query = None
            log.error("search failed:\n%s", error.traceback)
            self.searchFailed.emit(f"the search failed: {error}")
            self.unexpectedError.emit(error)

    @Slot(int)
    def _on_search_finished(self, _gen: int) -> None:
        self._search_running = None
        if self._search_queued is not None:
            gen, query = self._search_queued
            self._search_queued = None
            if self.gens.is_current("search", gen) and self.searcher is not None:
                self._start_search(gen, query)

    def _run_pending_query(self) -> None:
        if self._pending_query is not None and self.searcher is not None:
            self.search(self._pending_query)

    # ================================================================ tags and photo facts

    def tags(self, path: str, n: int = TAGS_SHOWN) -> None:
        """Rank labels for a photo; answers with ``tagsReady(path, ranked)``."""
        if self.searcher is None:
            self.message.emit("Tags need the model, which is not ready yet.")
            return
        worker = Worker(self._tags_job, self.searcher, path, n, name="tags")
        worker.signals.result.connect(self._on_tags)
        worker.signals.error.connect(self._on_tags_error)
        self.search_pool.start(worker)

    def _tags_job(self, worker: Worker, searcher: Searcher, path: str, n: int):
        from clipdesk.core import tags

        spec = searcher.model.spec
        cached = self._label_vectors.get(spec)
        if cached is None:
            labels = tags.label_set(searcher.catalog)
            vectors = tags.label_vectors(searcher.catalog, searcher.model,
                                         lambda: searcher.encoder, labels)
            cached = self._label_vectors[spec] = (labels, vectors)
        labels, vectors = cached
        ranked = tags.rank(searcher.image_vector(Path(path)), labels, vectors, n)
        return path, ranked

    @Slot(int, object)
    def _on_tags(self, _gen: int, result) -> None:
        self.tagsReady.emit(*result)

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

    def photo_info(self, path: str) -> None:
        worker = Worker(self._info_job, path, name="photo info")
        worker.signals.result.connect(lambda _g, info: self.infoReady.emit(info))
        self.general.start(worker)

    def _info_job(self, worker: Worker, path: str) -> PhotoInfo:
        row = self.library.catalog.file_by_path(path) if self.library else None
        try:
            size = os.stat(path).st_size
        except OSError:
            size = None
        if row is None:
            return PhotoInfo(path, size, None, None, None, False)
        when = row.taken_at if row.taken_at is not None else row.mtime_ns / 1e9
        return PhotoInfo(path, size, row.width, row.height, when, row.status == "ok")

    # ================================================================ the writer: folders, indexing

    def add_folders(self, folders: list[Path]) -> None:
        folders = [Path(f).resolve() for f in folders if Path(f).is_dir()]
        if not folders:
            return
        if self.encoder is None or self.model_state is not ModelState.READY:
            worker = Worker(self._add_roots_job, folders, name="add folders")
            worker.signals.result.connect(self._on_roots_changed)
            worker.signals.error.connect(self._on_writer_error)
            self.writer.start(worker)
            return
        self.index(folders)

    def _add_roots_job(self, worker: Worker, folders: list[Path]) -> None:
        assert self.library is not None
        for folder in folders:
            self.library.catalog.add_root(folder)

    def remove_folder(self, folder: Path) -> None:
        worker = Worker(self._remove_root_job, Path(folder), self.encoder, name="remove folder")
        worker.signals.result.connect(self._on_roots_changed)
        worker.signals.error.connect(self._on_writer_error)
        self.writer.start(worker)

    def _remove_root_job(self, worker: Worker, folder: Path, encoder: Encoder | None) -> None:
        from clipdesk.core.indexer import Indexer

        assert self.library is not None
        if encoder is not None:
            Indexer(self.library, encoder, on_progress=lambda *_: None).remove_root(folder)
            return
        ids = self.library.catalog.remove_root(folder)
        searcher = self.searcher
        if searcher is not None:  # its index is loaded: keep it in step (the file heals on open)
            searcher.index.remove(ids)

    @Slot(int, object)
    def _on_roots_changed(self, _gen: int, _value) -> None:
        self.libraryChanged.emit()
        self.refresh_status()

    def retry_failed(self) -> None:
        if self.encoder is None or self.model_state is not ModelState.READY:
            self._after_model.append(self.retry_failed)
            self.message.emit("Failed photos will be retried when the model is ready.")
            return
        self._start_index_job(retry=True)

    def index(self, folders: list[Path] | None = None) -> None:
        """Bring the given folders (all when None) up to date, adding new ones as roots."""
        self._paused = False
        if self.encoder is None or self.model_state is not ModelState.READY:
            if folders:
                self.add_folders(folders)
            self._index_after_load = True
            return
        self._start_index_job(folders=folders)

    def _start_index_job(self, folders: list[Path] | None = None, retry: bool = False) -> None:
        assert self.encoder is not None
        if self._busy:  # the process updating the library will see to it; then we take over
            self._index_after_load = True
            self.message.emit(f"Not indexing now: {self._busy}")
            return
        self._index_jobs += 1
        worker = Worker(self._index_job, self.encoder, folders, retry, name="index")
        worker.signals.started.connect(self._on_index_started)
        worker.signals.progress.connect(self._on_index_progress)
        worker.signals.result.connect(self._on_index_done)
        worker.signals.error.connect(self._on_index_error)
        worker.signals.cancelled.connect(lambda _g: self._on_index_done(_g, None))
        self.writer.start(worker)

    def _index_job(self, worker: Worker, encoder: Encoder, folders, retry: bool) -> IndexReport:
        from clipdesk.core.indexer import Indexer, IndexReport

        assert self.library is not None

        def on_progress(done: int, total: int) -> None:
            worker.progress((done, total))
            if self._paused:  # a pause that came while the run was starting up
                indexer.stop()

        indexer = Indexer(self.library, encoder, workers=self.settings.workers or None,
                          on_progress=on_progress)
        self._indexer = indexer
        try:
            if self._paused:
                return IndexReport(interrupted=True)
            report = indexer.retry_failed() if retry else indexer.run(folders)
            if retry:
                indexer.save()
            report.model = encoder.spec.text  # type: ignore[attr-defined]
            return report
        finally:
            self._indexer = None

    @property
    def indexing(self) -> bool:
        return self._index_jobs > 0

    @Slot(int)
    def _on_index_started(self, _gen: int) -> None:
        self.indexingStarted.emit("Looking for new and changed photos…")
        self.libraryChanged.emit()

    @Slot(int, object)
    def _on_index_progress(self, _gen: int, payload) -> None:
        self.indexingProgress.emit(*payload)

    @Slot(int, object)
    def _on_index_done(self, _gen: int, report) -> None:
        self._index_jobs -= 1
        if report is not None:
            model = getattr(report, "model", None)
            if (model and model != self.search_spec and not report.interrupted
                    and self.encoder is not None and self.encoder.spec.text == model):
                # the new model's index is complete: it answers from now on
                row = self.library.model_row(self.encoder.spec)
                self._make_searcher(row, self.encoder)
                self.message.emit(f"Now searching with {model}.")
                if self._pending_query is None and self._last_query is not None:
                    self._pending_query = self._last_query
            for msg in report.folder_errors:
                self.message.emit(msg)
        self.indexingFinished.emit(report)
        self.libraryChanged.emit()
        self.refresh_status()
        self._run_pending_query()
        if report is not None and not report.interrupted:
            self._start_watching()

    @Slot()
    def _try_claim(self) -> None:
        if self._closing or self.library is None or not self._busy:
            self._claim_timer.stop()
            return
        worker = Worker(lambda _w: self.library.claim_writer(), name="claim library")
        worker.signals.result.connect(self._on_claimed)  # LibraryBusy: try again later
        self.writer.start(worker)

    @Slot(int, object)
    def _on_claimed(self, _gen: int, _value) -> None:
        if not self._busy:
            return
        self._busy = None
        self._claim_timer.stop()
        self.message.emit("The other program stopped updating this library; ClipDesk keeps it "
                          "up to date again.")
        self.refresh_status()
        self.index(None)

    # ================================================================ watching the folders

    def _start_watching(self) -> None:
        """Follow the library's folders from now on (after the first full index run)."""
        if self.watcher is not None or self._closing or self.library is None:
            return
        from clipdesk.core.watcher import Watcher

        self.watcher = Watcher([p for _, p in self.library.catalog.roots()])
        worker = Worker(lambda _w: self.watcher.start(), name="start watching")
        worker.signals.error.connect(self._on_writer_error)
        self.writer.start(worker)
        self._watch_timer.start()

    @Slot()
    def _poll_watcher(self) -> None:
        """Every tick: hand settled changes (and a look at the roots) to the writer."""
        self._watch_ticks += 1
        if (self.watcher is None or self._closing or self._paused or self._sync_running
                or self.indexing or self.encoder is None or self.model_state is not ModelState.READY):
            return
        if self.watcher.pending_count == 0 and self._watch_ticks % ROOT_CHECK_TICKS:
            return
        self._sync_running = True
        worker = Worker(self._sync_job, self.encoder, name="sync")
        worker.signals.result.connect(self._on_synced)
        worker.signals.error.connect(self._on_sync_error)
        self.writer.start(worker)

    def _sync_job(self, worker: Worker, encoder: Encoder):
        """On the writer: one step of the core's watch loop (``watcher.LiveIndexer``)."""
        from clipdesk.core.indexer import Indexer
        from clipdesk.core.watcher import LiveIndexer

        assert self.library is not None and self.watcher is not None
        if self._live is None or self._live.indexer.encoder is not encoder:
            indexer = Indexer(self.library, encoder, workers=self.settings.workers or None,
                              on_progress=lambda *_: None)
            self._live = LiveIndexer(indexer, self.watcher)
        return self._live.step()

    @Slot(int, object)
    def _on_synced(self, _gen: int, result) -> None:
        self._sync_running = False
        report, messages = result
        for msg in messages:
            self.message.emit(msg)
        if report is None:
            self.refresh_status()  # a root may have gone offline or come back
            return
        if report.todo or report.removed:
            if report.embedded or report.reused:
                self.message.emit(f"{report.embedded + report.reused} new or changed photo(s) "
                                  "indexed from the watched folders.")
            self.libraryChanged.emit()
            self.refresh_status()
            if self._last_query is not None and self._pending_query is None:
                self._pending_query = self._last_query  # new photos join the open results
                self._run_pending_query()

    @Slot(int, object)
    def _on_sync_error(self, gen: int, error: JobError) -> None:
        self._sync_running = False
        self._on_writer_error(gen, error)

    def watch_states(self) -> dict[str, str]:
        """live / polling / offline for each watched folder (empty until watching starts)."""
        return {str(k): v for k, v in dict(self.watcher.states).items()} if self.watcher else {}

    @Slot(int, object)
    def _on_index_error(self, gen: int, error: JobError) -> None:
        self._index_jobs -= 1
        self._on_writer_error(gen, error)
        self.indexingFinished.emit(None)

    @Slot(int, object)
    def _on_writer_error(self, _gen: int, error: JobError) -> None:
        from clipdesk.core.errors import ClipDeskError

        if isinstance(error.exc, ClipDeskError):
            self.message.emit(str(error))
        else:
            log.error("a library job failed:\n%s", error.traceback)
            self.unexpectedError.emit(error)

    def pause_indexing(self) -> None:
        """Stop after the batch in flight; everything finished so far is kept."""
        self._paused = True
        self._index_after_load = False
        for worker in self.writer.running():
            if worker.name == "index":
                self.writer.take(worker)  # queued runs never start; the running one stops:
        indexer = self._indexer
        if indexer is not None:
            indexer.stop()

    def resume_indexing(self) -> None:
        self.index(None)

    @property
    def paused(self) -> bool:
        return self._paused

    # ================================================================ status

    def refresh_status(self) -> None:
        if self.library is None:
            return
        gen = self.gens.next("status")
        worker = Worker(self._status_job, generation=gen, name="status")
        worker.signals.result.connect(self._on_status)
        self.general.start(worker)

    def _status_job(self, worker: Worker) -> LibraryStatus:
        from clipdesk.core.models import ModelSpec
        from clipdesk.core.status import library_status

        assert self.library is not None
        spec = self.spec or (ModelSpec.parse(self.library.model_spec)
                             if self.library.model_spec else None)
        status = library_status(self.library, spec)
        status.busy = self._busy
        states = self.watch_states()
        for root in status.roots:
            root.watching = states.get(root.path, "")
        return status

    @Slot(int, object)
    def _on_status(self, gen: int, status: LibraryStatus) -> None:
        if self.gens.is_current("status", gen):
            self.statusReady.emit(status)

    # ================================================================ shutting down

    def shutdown(self, timeout_ms: int = 60_000) -> None:
        """Stop after the batch in flight, keep everything finished, wait for the threads."""
        self._closing = True
        self._watch_timer.stop()
        self._claim_timer.stop()
        self.pause_indexing()
        self.cancel_download()
        self.search_pool.cancel_all()
        self.general.cancel_all()
        self.writer.wait(timeout_ms)
        self.search_pool.wait(timeout_ms)
        self.general.wait(timeout_ms)
        if self.watcher is not None:
            self.watcher.stop()
        if self._live is not None:
            self._live.indexer.save()  # what the watcher indexed since the last save
        if self.library is not None:
            self.library.close()
