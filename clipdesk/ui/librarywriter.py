"""The library's one writer: opening (and healing) the library, preparing a model's index,
adding and removing folders, indexing with pause and resume, retrying failed photos,
following the folders, and taking over from another process that updated the library.

Every job here runs on the ``writer`` pool, one thread: all catalog and vector-index writes
go through it. Jobs get the library, the encoder and the settings' values as arguments and
return plain data; this controller applies what they return on the GUI thread. Two things
cross while a job runs: the Worker's cooperative cancellation, and pausing an index run (a
``threading.Event`` the run checks, and ``Indexer.stop()`` called from the GUI thread).

Indexing needs the model: until the engine hands over a ready encoder (``model_ready``),
asked-for runs wait and start then. Following the folders starts after the first complete
index run: a timer hands settled changes to ``LiveIndexer.step``, the core's one watch loop
(what ``clipdesk watch`` loops on). When another process (``clipdesk watch``) holds the
library's writer lock, this window only searches and tries to take over now and then.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QTimer, Signal, Slot

from clipdesk.core.catalog import removal_keys
from clipdesk.ui.settings import Settings
from clipdesk.ui.workers import JobError, Pool, Worker

if TYPE_CHECKING:
    from clipdesk.core.catalog import ModelRow
    from clipdesk.core.indexer import Indexer, IndexReport
    from clipdesk.core.library import Library
    from clipdesk.core.models import Encoder, ModelSpec
    from clipdesk.core.vectors import VectorIndex
    from clipdesk.core.watcher import LiveIndexer, Watcher
    from clipdesk.ui.trash import TrashRequest, TrashResult

log = logging.getLogger(__name__)

WATCH_TICK_MS = 250  # how often settled folder changes go to the writer
ROOT_CHECK_TICKS = 8  # look at the roots themselves (unplugged drives) every 2 s
CLAIM_EVERY_MS = 5000  # searching only: how often to try to become the library's writer


# ==================================================================== what the jobs return


@dataclass
class Opened:
    library: Library
    spec: ModelSpec  # the model to use: the command line's, the library's, or the settings'
    row: ModelRow | None  # its row in the catalog, when the library has an index for it
    roots: int
    busy: str | None = None  # another process is updating the library: why we only search


@dataclass
class Indexed:
    report: IndexReport
    model: ModelRow  # the model the run indexed with
    spec: str  # the text of the encoder's spec


@dataclass
class Synced:
    live: LiveIndexer  # the watch loop, kept for the next step
    report: IndexReport | None  # None: nothing changed
    messages: list[str]  # the watcher's notes: a folder polled, gone, back


# ==================================================================== the jobs (writer thread)


def open_job(worker: Worker, folder: Path, cli_model: str | None,
             settings_model: str | None) -> Opened:
    from clipdesk.core import models
    from clipdesk.core.errors import LibraryBusy
    from clipdesk.core.library import Library

    library = Library(folder, role="the ClipDesk app")
    busy = None
    try:
        library.claim_writer()
    except LibraryBusy as exc:
        busy = str(exc)
    spec = models.choose_spec(cli_model, library.model_spec or settings_model or None)
    row = library.model_row(spec)
    if row is not None:
        library.vectors(row, persist=True)  # heal here, on the writer, once
    return Opened(library, spec, row, len(library.catalog.roots()), busy)


def prepare_job(worker: Worker, library: Library, encoder: Encoder) -> tuple[ModelRow, bool]:
    """Open (or create) the model's index before any search may touch it; returns its row
    and whether every photo is indexed with it."""
    from clipdesk.core.errors import ClipDeskError

    row = library.model_row(encoder.spec, encoder.dim)
    if row.dim != encoder.dim:
        raise ClipDeskError(f"model {encoder.spec.text} does not match the library's index "
                            "for it")
    library.vectors(row, persist=True)
    counts = library.catalog.counts(row.id).values()
    return row, all(c["pending"] == 0 for c in counts)


def add_roots_job(worker: Worker, library: Library, folders: list[Path]) -> None:
    assert library is not None
    for folder in folders:
        library.catalog.add_root(folder)


def remove_root_job(worker: Worker, library: Library, folder: Path, encoder: Encoder | None,
                    search_index: VectorIndex | None) -> None:
    """Forget a folder's photos. ``search_index``: the index searches use, kept in step when
    there is no encoder to do it (the file heals on open)."""
    from clipdesk.core.indexer import Indexer

    assert library is not None
    if encoder is not None:
        Indexer(library, encoder, on_progress=lambda *_: None).remove_root(folder)
    else:
        videos = library.catalog.root_video_ids(folder)
        ids = library.catalog.remove_root(folder)
        if search_index is not None:
            search_index.remove(removal_keys(ids, videos))
    library.tidy_thumbnails()  # the folder's photos' thumbnails go with them


def tidy_job(worker: Worker, library: Library) -> tuple[int, int]:
    """Thumbnails no photo uses, and those past the store's size limit, deleted (writer only)."""
    return library.tidy_thumbnails()


def index_job(worker: Worker, library: Library, encoder: Encoder, folders: list[Path] | None,
              retry: bool, workers: int | None, pause: threading.Event) -> Indexed:
    """Bring ``folders`` (all when None) up to date, or retry the failed photos. Reports
    ``("indexer", Indexer)`` first, so that the GUI thread can stop it, then
    ``("progress", done, total)``."""
    from clipdesk.core.indexer import Indexer, IndexReport

    def on_progress(done: int, total: int) -> None:
        worker.progress(("progress", done, total))
        if pause.is_set():  # a pause that came while the run was starting up
            indexer.stop()

    indexer = Indexer(library, encoder, workers=workers, on_progress=on_progress)
    worker.progress(("indexer", indexer))
    if pause.is_set():
        return Indexed(IndexReport(interrupted=True), indexer.model, encoder.spec.text)
    report = indexer.retry_failed() if retry else indexer.run(folders)
    if retry:
        indexer.save()
    return Indexed(report, indexer.model, encoder.spec.text)


def start_watching_job(worker: Worker, watcher: Watcher) -> None:
    watcher.start()


def sync_job(worker: Worker, library: Library, encoder: Encoder, watcher: Watcher,
             live: LiveIndexer | None, workers: int | None) -> Synced:
    """One step of the core's watch loop (``watcher.LiveIndexer``); the loop is made anew
    (with its Indexer) the first time and when the encoder changed."""
    from clipdesk.core.indexer import Indexer
    from clipdesk.core.watcher import LiveIndexer

    if live is None or live.indexer.encoder is not encoder:
        indexer = Indexer(library, encoder, workers=workers, on_progress=lambda *_: None)
        live = LiveIndexer(indexer, watcher)
    report, messages = live.step()
    return Synced(live, report, messages)


def claim_job(worker: Worker, library: Library) -> None:
    library.claim_writer()  # LibraryBusy: the other process still holds it
    library.tidy_thumbnails()


def save_album_job(worker: Worker, library: Library, name: str, query,
                   replace: bool) -> tuple[str, str]:
    """A smart album saved; returns ("", its name as stored) for ``albumsChanged``."""
    return "", library.catalog.save_album(name, query, replace=replace).name


def rename_album_job(worker: Worker, library: Library, old: str, new: str) -> tuple[str, str]:
    return old, library.catalog.rename_album(old, new).name


def delete_album_job(worker: Worker, library: Library, name: str) -> tuple[str, str]:
    library.catalog.delete_album(name)  # the album only: no photo is touched
    return name, ""


@dataclass
class Trashed:
    """What a Move to Trash did: the trash's result, and why the library could not forget the
    moved photos yet (None when it did; the next index run removes them then)."""

    result: TrashResult
    not_forgotten: str | None = None


def trash_job(worker: Worker, library: Library, requests: list[TrashRequest],
              models: list[ModelRow], encoder: Encoder | None) -> Trashed:
    """Move the confirmed photos to the system trash, then forget the ones that moved (catalog
    rows, and the vectors of ``models`` and the encoder's model; other models' indexes catch
    up when opened). On the writer, so no index run reads those photos meanwhile."""
    from clipdesk.core.errors import ClipDeskError
    from clipdesk.ui.trash import trash_files

    result = trash_files(requests)
    moved = result.moved_paths
    if not moved:
        return Trashed(result)
    if not library.is_writer:
        return Trashed(result, "another program is updating the library; it removes them")
    try:
        rows = [row for path in moved if (row := library.catalog.file_by_path(path))]
        by_root: dict[int, list[int]] = {}
        for row in rows:
            by_root.setdefault(row.root_id, []).append(row.id)
        for root_id, ids in by_root.items():  # what a scan records for files gone from disk
            library.catalog.record_scan(root_id, {}, {}, ids)
        specs = {m.spec: m for m in models}
        if encoder is not None and (row := library.model_row(encoder.spec)) is not None:
            specs.setdefault(row.spec, row)
        for model in specs.values():
            index = library.vectors(model)
            index.remove(removal_keys([row.id for row in rows],
                                      {row.id for row in rows if row.is_video}))
            library.save_vectors(model, index)
        library.tidy_thumbnails()
    except ClipDeskError as exc:  # a read-only or full library: the photos moved all the same
        return Trashed(result, str(exc))
    return Trashed(result)


# ==================================================================== the controller


class LibraryWriter(QObject):
    """Owns the library, the index runs, the folder watcher and the writer lock's takeover."""

    opened = Signal(object)  # Opened
    openFailed = Signal(str)
    prepared = Signal(int, object, bool)  # model generation, ModelRow, every photo indexed
    prepareFailed = Signal(int, object)  # model generation, JobError
    indexingStarted = Signal(str)  # what is happening ("Looking for new and changed photos…")
    indexingProgress = Signal(int, int)  # done, total
    indexingFinished = Signal(object)  # IndexReport, or None when it could not run
    indexComplete = Signal(object, object)  # ModelRow, Encoder: a full run with the model in use
    libraryChanged = Signal()  # folders or photos changed: counts are stale
    photosChanged = Signal()  # the watched folders brought new, changed or deleted photos
    statusStale = Signal()  # the library's status is to be read again
    albumsChanged = Signal(str, str)  # saved ("", name), renamed (old, new), deleted (name, "")
    message = Signal(str)
    unexpectedError = Signal(object)  # JobError
    trashed = Signal(object)  # Trashed, or None when the job failed unexpectedly

    def __init__(self, pool: Pool, folder: Path, settings: Settings,
                 parent: QObject | None = None):
        super().__init__(parent)
        self.pool = pool
        self.folder = Path(folder)
        self.settings = settings
        self.library: Library | None = None
        self.encoder: Encoder | None = None  # the model's, while it is ready: indexing needs it
        self.busy: str | None = None  # another process updates the library: why we only search
        self.closing = False
        self._pause = threading.Event()  # set: index runs started under it stop
        self._index_after_load = True
        self._after_model: list[Callable[[], None]] = []  # jobs waiting for the model
        self._index_jobs = 0
        self._indexer: tuple[Worker, Indexer] | None = None  # the run in progress
        # the folder watcher: watchdog records changes; a timer hands settled ones to the writer
        self.watcher: Watcher | None = None  # once the first index run is done
        self._live: LiveIndexer | None = None  # the watch loop's steps, on the writer
        self._sync_running = False
        self._watch_ticks = 0
        self._claim_timer = QTimer(self)
        self._claim_timer.setInterval(CLAIM_EVERY_MS)
        self._claim_timer.timeout.connect(self._try_claim)
        self._watch_timer = QTimer(self)
        self._watch_timer.setInterval(WATCH_TICK_MS)
        self._watch_timer.timeout.connect(self._poll_watcher)

    # ================================================================ opening, the model's index

    def open(self, cli_model: str | None) -> None:
        """Open the library (and heal its index) on the writer."""
        worker = Worker(open_job, self.folder, cli_model, self.settings.model or None,
                        name="open library")
        worker.signals.result.connect(self._on_opened)
        worker.signals.error.connect(self._on_open_failed)
        self.pool.start(worker)

    @Slot(int, object)
    def _on_opened(self, _gen: int, opened: Opened) -> None:
        self.library = opened.library
        if opened.busy:
            self.busy = opened.busy
            self.message.emit(f"Searching only: {opened.busy[0].upper()}{opened.busy[1:]}")
            self._claim_timer.start()
        else:  # its own job, after the open: tidying 100,000 thumbnails takes ~0.4 s
            worker = Worker(tidy_job, opened.library, name="tidy thumbnails")
            worker.signals.error.connect(self._on_error)
            self.pool.start(worker)
        self.opened.emit(opened)

    @Slot(int, object)
    def _on_open_failed(self, _gen: int, error: JobError) -> None:
        from clipdesk.core.errors import ClipDeskError

        if isinstance(error.exc, ClipDeskError):
            self.openFailed.emit(str(error))
        else:
            log.error("cannot open the library %s:\n%s", self.folder, error.traceback)
            self.openFailed.emit(f"cannot open the library {self.folder}: {error}")

    def prepare(self, gen: int, encoder: Encoder) -> None:
        """Open (or create) the index of a freshly loaded model (load ``gen``)."""
        if self.library is None or self.closing:
            return
        worker = Worker(prepare_job, self.library, encoder, generation=gen, name="prepare index")
        worker.signals.result.connect(self._on_prepared)
        worker.signals.error.connect(self._on_prepare_failed)
        self.pool.start(worker)

    @Slot(int, object)
    def _on_prepared(self, gen: int, prepared: tuple[ModelRow, bool]) -> None:
        self.prepared.emit(gen, *prepared)

    @Slot(int, object)
    def _on_prepare_failed(self, gen: int, error: JobError) -> None:
        self.prepareFailed.emit(gen, error)

    def model_ready(self, encoder: Encoder) -> None:
        """Index with ``encoder`` from now on: catch up with what changed while the app was
        closed (or since the model changed), then run what waited for the model."""
        self.encoder = encoder
        if (self._index_after_load and self.library is not None
                and self.library.catalog.roots()):
            self.index(None)
        jobs, self._after_model = self._after_model, []
        for job in jobs:
            job()

    def model_gone(self) -> None:
        """The model is loading (or cannot be loaded): indexing waits."""
        self.encoder = None

    def new_model(self) -> None:
        """Another model is coming: stop the run in progress; the new model indexes the
        library once it is ready."""
        self.pause_indexing()
        self._pause = threading.Event()
        self._index_after_load = True

    # ================================================================ folders

    def add_folders(self, folders: list[Path]) -> None:
        folders = [Path(f).resolve() for f in folders if Path(f).is_dir()]
        if not folders:
            return
        if self.encoder is None:
            worker = Worker(add_roots_job, self.library, folders, name="add folders")
            worker.signals.result.connect(self._on_roots_changed)
            worker.signals.error.connect(self._on_error)
            self.pool.start(worker)
            return
        self.index(folders)

    def remove_folder(self, folder: Path, encoder: Encoder | None = None,
                      search_index: VectorIndex | None = None) -> None:
        """Forget a folder's photos, with ``encoder`` (when loaded) keeping its index in step,
        else keeping ``search_index`` (the one searches use) in step."""
        worker = Worker(remove_root_job, self.library, Path(folder), encoder, search_index,
                        name="remove folder")
        worker.signals.result.connect(self._on_roots_changed)
        worker.signals.error.connect(self._on_error)
        self.pool.start(worker)

    @Slot(int, object)
    def _on_roots_changed(self, _gen: int, _value) -> None:
        self.libraryChanged.emit()
        self.statusStale.emit()

    # ================================================================ smart albums

    def save_album(self, name: str, query, replace: bool = False) -> None:
        """Store ``query`` (a core.query.Query) as an album; a name in use is a message
        unless ``replace``."""
        self._album_job(save_album_job, name, query, replace)

    def rename_album(self, old: str, new: str) -> None:
        self._album_job(rename_album_job, old, new)

    def delete_album(self, name: str) -> None:
        self._album_job(delete_album_job, name)

    def _album_job(self, job: Callable, *args) -> None:
        if self.library is None or self.closing:
            return
        if self.indexing:  # one writer: the album waits for the run's end
            self.message.emit("The album is saved when indexing ends (or is paused).")
        worker = Worker(job, self.library, *args, name="album")
        worker.signals.result.connect(lambda _g, names: self.albumsChanged.emit(*names))
        worker.signals.error.connect(self._on_error)
        self.pool.start(worker)

    # ================================================================ indexing

    def retry_failed(self) -> None:
        if self.encoder is None:
            self._after_model.append(self.retry_failed)
            self.message.emit("Failed photos will be retried when the model is ready.")
            return
        self._start_index_job(retry=True)

    def index(self, folders: list[Path] | None = None) -> None:
        """Bring the given folders (all when None) up to date, adding new ones as roots."""
        if self._pause.is_set():  # runs paused so far stay paused; new ones run
            self._pause = threading.Event()
        if self.encoder is None:
            if folders:
                self.add_folders(folders)
            self._index_after_load = True
            return
        self._start_index_job(folders=folders)

    def _start_index_job(self, folders: list[Path] | None = None, retry: bool = False) -> None:
        assert self.encoder is not None
        if self.busy:  # the process updating the library will see to it; then we take over
            self._index_after_load = True
            self.message.emit(f"Not indexing now: {self.busy}")
            return
        self._index_jobs += 1
        worker = Worker(index_job, self.library, self.encoder, folders, retry,
                        self.settings.workers or None, self._pause, name="index")
        worker.signals.started.connect(self._on_index_started)
        worker.signals.progress.connect(lambda _g, payload, w=worker:
                                        self._on_index_progress(w, payload))
        worker.signals.result.connect(lambda _g, indexed, w=worker: self._on_index_done(w, indexed))
        worker.signals.error.connect(lambda g, error, w=worker: self._on_index_error(w, g, error))
        worker.signals.cancelled.connect(lambda _g, w=worker: self._on_index_done(w, None))
        self.pool.start(worker)

    @property
    def indexing(self) -> bool:
        return self._index_jobs > 0

    @property
    def paused(self) -> bool:
        return self._pause.is_set()

    def pause_indexing(self) -> None:
        """Stop after the batch in flight; everything finished so far is kept."""
        self._pause.set()
        self._index_after_load = False
        for worker in self.pool.running():
            if worker.name == "index":
                self.pool.take(worker)  # queued runs never start; the running one stops:
        if self._indexer is not None:
            self._indexer[1].stop()

    def resume_indexing(self) -> None:
        self.index(None)

    @Slot(int)
    def _on_index_started(self, _gen: int) -> None:
        self.indexingStarted.emit("Looking for new and changed photos…")
        self.libraryChanged.emit()

    def _on_index_progress(self, worker: Worker, payload: tuple) -> None:
        if payload[0] == "indexer":
            self._indexer = (worker, payload[1])
        else:
            self.indexingProgress.emit(*payload[1:])

    def _forget_indexer(self, worker: Worker) -> None:
        if self._indexer is not None and self._indexer[0] is worker:
            self._indexer = None

    def _on_index_done(self, worker: Worker, indexed: Indexed | None) -> None:
        self._index_jobs -= 1
        self._forget_indexer(worker)
        report = indexed.report if indexed is not None else None
        if indexed is not None:
            if (not report.interrupted and self.encoder is not None
                    and self.encoder.spec.text == indexed.spec):
                self.indexComplete.emit(indexed.model, self.encoder)
            for msg in report.folder_errors:
                self.message.emit(msg)
        self.indexingFinished.emit(report)
        self.libraryChanged.emit()
        self.statusStale.emit()
        if report is not None and not report.interrupted:
            self._start_watching()

    def _on_index_error(self, worker: Worker, gen: int, error: JobError) -> None:
        self._index_jobs -= 1
        self._forget_indexer(worker)
        self._on_error(gen, error)
        self.indexingFinished.emit(None)

    # ================================================================ Move to Trash

    def trash(self, requests: list[TrashRequest], models: list[ModelRow]) -> None:
        """Move confirmed photos to the system trash and forget those that moved; answers
        with ``trashed``."""
        worker = Worker(trash_job, self.library, requests, models, self.encoder,
                        name="move to trash")
        worker.signals.result.connect(self._on_trashed)
        worker.signals.error.connect(self._on_trash_error)
        self.pool.start(worker)

    @Slot(int, object)
    def _on_trashed(self, _gen: int, trashed: Trashed) -> None:
        self.trashed.emit(trashed)
        if trashed.result.moved:
            self.libraryChanged.emit()
            self.statusStale.emit()
            self.photosChanged.emit()  # the open results lose the moved photos

    @Slot(int, object)
    def _on_trash_error(self, gen: int, error: JobError) -> None:
        self._on_error(gen, error)
        self.trashed.emit(None)

    # ================================================================ another writer

    @Slot()
    def _try_claim(self) -> None:
        if self.closing or self.library is None or not self.busy:
            self._claim_timer.stop()
            return
        worker = Worker(claim_job, self.library, name="claim library")
        worker.signals.result.connect(self._on_claimed)  # LibraryBusy: try again later
        self.pool.start(worker)

    @Slot(int, object)
    def _on_claimed(self, _gen: int, _value) -> None:
        if not self.busy:
            return
        self.busy = None
        self._claim_timer.stop()
        self.message.emit("The other program stopped updating this library; ClipDesk keeps it "
                          "up to date again.")
        self.statusStale.emit()
        self.index(None)

    # ================================================================ watching the folders

    def _start_watching(self) -> None:
        """Follow the library's folders from now on (after the first full index run)."""
        if self.watcher is not None or self.closing or self.library is None:
            return
        from clipdesk.core.watcher import Watcher

        self.watcher = Watcher([p for _, p in self.library.catalog.roots()])
        worker = Worker(start_watching_job, self.watcher, name="start watching")
        worker.signals.error.connect(self._on_error)
        self.pool.start(worker)
        self._watch_timer.start()

    @Slot()
    def _poll_watcher(self) -> None:
        """Every tick: hand settled changes (and a look at the roots) to the writer."""
        self._watch_ticks += 1
        if (self.watcher is None or self.closing or self.paused or self._sync_running
                or self.indexing or self.encoder is None):
            return
        if self.watcher.pending_count == 0 and self._watch_ticks % ROOT_CHECK_TICKS:
            return
        self._sync_running = True
        worker = Worker(sync_job, self.library, self.encoder, self.watcher, self._live,
                        self.settings.workers or None, name="sync")
        worker.signals.result.connect(self._on_synced)
        worker.signals.error.connect(self._on_sync_error)
        self.pool.start(worker)

    @Slot(int, object)
    def _on_synced(self, _gen: int, synced: Synced) -> None:
        self._sync_running = False
        self._live = synced.live
        report = synced.report
        for msg in synced.messages:
            self.message.emit(msg)
        if report is None:
            self.statusStale.emit()  # a root may have gone offline or come back
            return
        if report.todo or report.removed:
            if report.embedded or report.reused:
                self.message.emit(f"{report.embedded + report.reused} new or changed photo(s) "
                                  "indexed from the watched folders.")
            self.libraryChanged.emit()
            self.statusStale.emit()
            self.photosChanged.emit()  # new photos join the open results

    @Slot(int, object)
    def _on_sync_error(self, gen: int, error: JobError) -> None:
        self._sync_running = False
        self._on_error(gen, error)

    def watch_states(self) -> dict[str, str]:
        """live / polling / offline for each watched folder (empty until watching starts)."""
        return {str(k): v for k, v in dict(self.watcher.states).items()} if self.watcher else {}

    # ================================================================ errors, closing

    @Slot(int, object)
    def _on_error(self, _gen: int, error: JobError) -> None:
        from clipdesk.core.errors import ClipDeskError

        if isinstance(error.exc, ClipDeskError):
            self.message.emit(str(error))
        else:
            log.error("a library job failed:\n%s", error.traceback)
            self.unexpectedError.emit(error)

    def close(self) -> None:
        """No new work from now on; the run in progress stops after its batch."""
        self.closing = True
        self._watch_timer.stop()
        self._claim_timer.stop()
        self.pause_indexing()

    def release(self) -> None:
        """Once the writer's thread is done: stop watching, save, close the library."""
        if self.watcher is not None:
            self.watcher.stop()
        if self._live is not None:
            self._live.indexer.save()  # what the watcher indexed since the last save
        if self.library is not None:
            self.library.close()
