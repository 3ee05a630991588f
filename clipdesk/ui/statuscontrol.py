"""What the window shows about the library and a photo: the library's status (counts per
folder, failures, sizes, the watch state of each folder; ``clipdesk.core.status``, the same
as ``clipdesk status``) and the facts the preview shows, both read on the ``general`` pool.

Jobs get what they need as arguments; a status from an older refresh is dropped.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Signal, Slot

from clipdesk.core.status import LibraryStatus
from clipdesk.ui.answers import PhotoInfo
from clipdesk.ui.workers import Generations, Pool, Worker

if TYPE_CHECKING:
    from clipdesk.core.library import Library
    from clipdesk.core.models import ModelSpec


def status_job(worker: Worker, library: Library, spec: ModelSpec | None, busy: str | None,
               watching: dict[str, str]) -> LibraryStatus:
    """The status of ``library`` for ``spec`` (None: the model the library was indexed with);
    ``busy`` says why this window only searches, ``watching`` maps folders to watch states."""
    from clipdesk.core.models import ModelSpec
    from clipdesk.core.status import library_status

    if spec is None and library.model_spec:
        spec = ModelSpec.parse(library.model_spec)
    status = library_status(library, spec)
    status.busy = busy
    for root in status.roots:
        root.watching = watching.get(root.path, "")
    return status


def info_job(worker: Worker, library: Library | None, path: str) -> PhotoInfo:
    row = library.catalog.file_by_path(path) if library is not None else None
    try:
        size = os.stat(path).st_size
    except OSError:
        size = None
    if row is None:
        return PhotoInfo(path, size, None, None, None, False)
    when = row.taken_at if row.taken_at is not None else row.mtime_ns / 1e9
    return PhotoInfo(path, size, row.width, row.height, when, row.status == "ok")


class StatusController(QObject):
    statusReady = Signal(object)  # LibraryStatus of the newest refresh
    infoReady = Signal(object)  # PhotoInfo

    def __init__(self, pool: Pool, gens: Generations | None = None,
                 parent: QObject | None = None):
        super().__init__(parent)
        self.pool = pool
        self.gens = gens or Generations()

    def refresh(self, library: Library, spec: ModelSpec | None, busy: str | None,
                watching: dict[str, str]) -> None:
        gen = self.gens.next("status")
        worker = Worker(status_job, library, spec, busy, dict(watching), generation=gen,
                        name="status")
        worker.signals.result.connect(self._on_status)
        self.pool.start(worker)

    @Slot(int, object)
    def _on_status(self, gen: int, status: LibraryStatus) -> None:
        if self.gens.is_current("status", gen):
            self.statusReady.emit(status)

    def photo_info(self, library: Library | None, path: str) -> None:
        worker = Worker(info_job, library, path, name="photo info")
        worker.signals.result.connect(lambda _g, info: self.infoReady.emit(info))
        self.pool.start(worker)
