"""The app's engine: the library, the model, and the thread pools that do the heavy work.

Four pools, one job each (Picard's pattern):

* ``writer`` - one thread, the only writer of the catalog and the vector index: opening
  (and healing) the index, adding and removing folders, indexing, retrying;
* ``search`` - one thread: queries, "find similar", tags; a newer query replaces a queued one
  and an answer from an older generation is dropped;
* ``browse`` - one thread: listings of the library (an empty query: the timeline), so that a
  query typed while one runs (~0.1 s at 100,000 photos) never waits behind it; a listing made
  stale by a newer query or listing stops within milliseconds;
* ``general`` - model loading and downloading, status counts, image loading for the preview.

The work is done by four controllers, one per concern, whose jobs take their inputs as
arguments and return results that the controller applies on the GUI thread:
``ModelController`` (``modelcontrol``: loading, downloading, the ``ModelState``),
``SearchController`` (``searchcontrol``: queries, the searcher, tags), ``LibraryWriter``
(``librarywriter``: the library, indexing, watching the folders, the writer lock) and
``StatusController`` (``statuscontrol``: library status, photo facts). The engine creates the
pools and the controllers, wires them together and is the one object the window talks to:

    library opened -> model loaded -> the writer prepares its index -> READY: the search
    controller gets its searcher -> a catch-up index run -> watching the folders

Nothing here imports a runtime: ``models.load`` does that, inside a worker, after the window is up.
A search typed before the model is ready is kept and answered as soon as the model is loaded.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Signal, Slot

from clipdesk.core.query import Query
from clipdesk.ui.answers import ModelNotReady, ModelState, PhotoInfo, ResultSet, SearchAnswer
from clipdesk.ui.librarywriter import LibraryWriter, Opened
from clipdesk.ui.modelcontrol import ModelController
from clipdesk.ui.searchcontrol import TAGS_SHOWN, SearchController, waiting_reason
from clipdesk.ui.settings import Settings
from clipdesk.ui.statuscontrol import StatusController
from clipdesk.ui.workers import Generations, Pool

if TYPE_CHECKING:
    from clipdesk.core.catalog import ModelRow
    from clipdesk.core.library import Library
    from clipdesk.core.models import Encoder, ModelSpec
    from clipdesk.core.search import Searcher
    from clipdesk.core.watcher import Watcher
    from clipdesk.ui.trash import TrashRequest

__all__ = ["Engine", "ModelNotReady", "ModelState", "PhotoInfo", "ResultSet", "SearchAnswer",
           "TAGS_SHOWN"]


class Engine(QObject):
    """Owns the pools and the controllers; every slow call runs in one of the pools."""

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
    albumsChanged = Signal(str, str)  # saved ("", name), renamed (old, new), deleted (name, "")
    statusReady = Signal(object)  # LibraryStatus
    tagsReady = Signal(str, object)  # path, [(label, share)]
    infoReady = Signal(object)  # PhotoInfo
    message = Signal(str)  # one line for the status bar
    unexpectedError = Signal(object)  # JobError: the crash dialog shows it
    photosTrashed = Signal(object)  # librarywriter.Trashed (None: the move failed unexpectedly)

    def __init__(self, folder: Path, model: str | None = None, device: str | None = None,
                 settings: Settings | None = None, parent: QObject | None = None):
        super().__init__(parent)
        self.folder = Path(folder)
        self.settings = settings or Settings()
        self.cli_model = model
        self.writer = Pool("writer", 1)
        self.search_pool = Pool("search", 1)
        self.browse_pool = Pool("browse", 1)
        self.general = Pool("general", 2)
        self.gens = Generations()
        self.model_control = ModelController(self.general, self.settings,
                                             device or self.settings.device or "auto",
                                             self.gens, self)
        self.search_control = SearchController(self.search_pool, self.settings, self.gens,
                                               self._why_search_waits, self,
                                               browse_pool=self.browse_pool)
        self.library_writer = LibraryWriter(self.writer, self.folder, self.settings, self)
        self.status_control = StatusController(self.general, self.gens, self)
        self._closing = False
        self._started = False
        self._connect()

    def _connect(self) -> None:
        model, search = self.model_control, self.search_control
        writer, status = self.library_writer, self.status_control
        # the model: loaded -> the writer prepares its index -> READY (``_on_prepared``)
        model.stateChanged.connect(self._on_model_state)
        model.downloadProgress.connect(self.downloadProgress)
        model.loaded.connect(writer.prepare)
        model.unavailable.connect(search.needs_model)
        writer.prepareFailed.connect(model.fail)
        writer.prepared.connect(self._on_prepared)
        # the library
        writer.opened.connect(self._on_opened)
        writer.openFailed.connect(self.libraryFailed)
        writer.indexingStarted.connect(self.indexingStarted)
        writer.indexingProgress.connect(self.indexingProgress)
        writer.indexComplete.connect(self._on_index_complete)
        writer.indexingFinished.connect(self._on_indexing_finished)
        writer.libraryChanged.connect(self.libraryChanged)
        writer.albumsChanged.connect(self.albumsChanged)
        writer.photosChanged.connect(self._on_photos_changed)
        writer.statusStale.connect(self.refresh_status)
        writer.trashed.connect(self.photosTrashed)
        # searching, status
        search.answered.connect(self.searchAnswered)
        search.waiting.connect(self.searchWaiting)
        search.failed.connect(self.searchFailed)
        search.tagsReady.connect(self.tagsReady)
        status.statusReady.connect(self.statusReady)
        status.infoReady.connect(self.infoReady)
        for part in (search, writer):
            part.message.connect(self.message)
            part.unexpectedError.connect(self.unexpectedError)

    # ================================================================ what the window reads

    @property
    def library(self) -> Library | None:
        return self.library_writer.library

    @property
    def spec(self) -> ModelSpec | None:
        """The model the library is (being) indexed with."""
        return self.model_control.spec

    @property
    def device(self) -> str:
        return self.model_control.device

    @property
    def encoder(self) -> Encoder | None:
        """The loaded model for ``spec``."""
        return self.model_control.encoder

    @property
    def model_state(self) -> ModelState:
        return self.model_control.state

    @property
    def model_message(self) -> str:
        return self.model_control.message

    @property
    def searcher(self) -> Searcher | None:
        return self.search_control.searcher

    @property
    def search_spec(self) -> str | None:
        """The model answering searches (may lag ``spec`` while a new one indexes)."""
        return self.search_control.search_spec

    @property
    def indexing(self) -> bool:
        return self.library_writer.indexing

    @property
    def paused(self) -> bool:
        return self.library_writer.paused

    @property
    def watcher(self) -> Watcher | None:
        """clipdesk.core.watcher.Watcher, once the first index run is done."""
        return self.library_writer.watcher

    # ================================================================ start-up and the model

    def start(self) -> None:
        """Open the library (and heal its index) on the writer, then load the model."""
        if self._closing or self._started:
            return
        self._started = True
        # the runtime takes a while to import: start now, while the library opens
        self.model_control.import_runtime()
        self.library_writer.open(self.cli_model)

    @Slot(object)
    def _on_opened(self, opened: Opened) -> None:
        self.model_control.spec = opened.spec
        if opened.row is not None:
            self.search_control.use(opened.library, opened.row)
        self.libraryOpened.emit(opened.roots)
        self.refresh_status()
        self.load_model(download=False)
        self.search_control.run_pending()  # "like this" photos of the library need no model

    def load_model(self, download: bool = False) -> None:
        """Load ``spec`` in the background (downloading it first when asked)."""
        if self._closing:
            return
        self.model_control.load(download)

    def cancel_download(self) -> None:
        self.model_control.cancel_download()

    def set_model(self, spec_text: str, device: str | None = None) -> None:
        """Switch to another model (or device). The library re-indexes in the background; the
        current model keeps answering searches until that is done."""
        target = self.model_control.target(spec_text, device)
        if target is None:
            return
        self.library_writer.new_model()
        self.model_control.switch(*target)

    @Slot(object, str)
    def _on_model_state(self, state: ModelState, message: str) -> None:
        if state is not ModelState.READY:
            self.library_writer.model_gone()
        self.modelStateChanged.emit(state, message)

    @Slot(int, object, bool)
    def _on_prepared(self, gen: int, row: ModelRow, complete: bool) -> None:
        """The loaded model's index is open: READY. It answers searches (unless another model
        does until this one's index is complete), then the library catches up."""
        if not self.model_control.ready(gen):
            return
        encoder = self.model_control.encoder
        assert encoder is not None and self.library is not None
        self.search_control.model_ready(self.library, row, encoder, complete)
        self.library_writer.model_ready(encoder)
        self.search_control.run_pending()

    def _why_search_waits(self) -> str:
        return waiting_reason(self.model_state, self.model_message, self.library)

    # ================================================================ searching, tags, facts

    def search(self, query: Query) -> int:
        """Answer ``query`` in the background; returns its generation. Only the newest
        generation's answer is emitted."""
        return self.search_control.search(query)

    def tags(self, path: str, n: int = TAGS_SHOWN) -> None:
        """Rank labels for a photo; answers with ``tagsReady(path, ranked)``."""
        self.search_control.tags(path, n)

    def photo_info(self, path: str) -> None:
        self.status_control.photo_info(self.library, path)

    # ================================================================ the writer: folders, indexing

    def add_folders(self, folders: list[Path]) -> None:
        self.library_writer.add_folders(folders)

    def remove_folder(self, folder: Path) -> None:
        searcher = self.searcher
        self.library_writer.remove_folder(folder, self.encoder,
                                          searcher.index if searcher is not None else None)

    def save_album(self, name: str, query: Query, replace: bool = False) -> None:
        """Smart albums are written by the writer; ``albumsChanged`` follows (or a message)."""
        self.library_writer.save_album(name, query, replace)

    def rename_album(self, old: str, new: str) -> None:
        self.library_writer.rename_album(old, new)

    def delete_album(self, name: str) -> None:
        self.library_writer.delete_album(name)

    def retry_failed(self) -> None:
        self.library_writer.retry_failed()

    def index(self, folders: list[Path] | None = None) -> None:
        """Bring the given folders (all when None) up to date, adding new ones as roots."""
        self.library_writer.index(folders)

    def pause_indexing(self) -> None:
        """Stop after the batch in flight; everything finished so far is kept."""
        self.library_writer.pause_indexing()

    def resume_indexing(self) -> None:
        self.library_writer.resume_indexing()

    def watch_states(self) -> dict[str, str]:
        """live / polling / offline for each watched folder (empty until watching starts)."""
        return self.library_writer.watch_states()

    def trash(self, requests: list[TrashRequest]) -> None:
        """Move the confirmed photos to the system trash (the duplicates view's one action that
        changes a photo folder); the library forgets those that moved. Answers with
        ``photosTrashed``."""
        searcher = self.searcher
        self.library_writer.trash(requests, [searcher.model] if searcher is not None else [])

    @Slot(object, object)
    def _on_index_complete(self, row: ModelRow, encoder: Encoder) -> None:
        # the new model's index is complete: it answers from now on
        assert self.library is not None
        self.search_control.index_complete(self.library, row, encoder)

    @Slot(object)
    def _on_indexing_finished(self, report) -> None:
        self.indexingFinished.emit(report)
        self.search_control.run_pending()

    @Slot()
    def _on_photos_changed(self) -> None:
        self.search_control.keep_current()  # new photos join the open results
        self.search_control.run_pending()

    # ================================================================ status

    def refresh_status(self) -> None:
        library = self.library
        if library is None:
            return
        self.status_control.refresh(library, self.spec, self.library_writer.busy,
                                    self.watch_states())

    # ================================================================ shutting down

    def shutdown(self, timeout_ms: int = 60_000) -> None:
        """Stop after the batch in flight, keep everything finished, wait for the threads."""
        self._closing = True
        self.library_writer.close()  # stops its timers and the index run in progress
        self.model_control.close()  # and a download
        self.search_pool.cancel_all()
        self.browse_pool.cancel_all()
        self.general.cancel_all()
        self.writer.wait(timeout_ms)
        self.search_pool.wait(timeout_ms)
        self.browse_pool.wait(timeout_ms)
        self.general.wait(timeout_ms)
        self.library_writer.release()
