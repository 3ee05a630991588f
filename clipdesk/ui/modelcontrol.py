"""The model: which one, on which device; loading it (downloading it first when asked, with
progress and cancel) on the ``general`` pool; and its state for the window.

``ModelState`` goes UNKNOWN -> LOADING (or DOWNLOADING) -> READY, or to MISSING / FAILED with
a message that says why. A loaded encoder is not READY yet: the library writer first opens
(or creates) its vector index, then the engine calls ``ready``. Each load is a generation;
the result of an older one is dropped.

Nothing here imports a runtime: ``models.load`` does that, inside a worker, after the window is up.
"""

from __future__ import annotations

import gc
import io
import logging
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Signal, Slot

from clipdesk.ui.answers import ModelState
from clipdesk.ui.settings import Settings
from clipdesk.ui.workers import Generations, JobError, Pool, Worker

if TYPE_CHECKING:
    from clipdesk.core.models import Encoder, ModelSpec

log = logging.getLogger(__name__)


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


def import_runtime_job(worker: Worker, device: str) -> None:
    from clipdesk.core import models

    models.import_runtime(device)  # onnxruntime (or torch and open_clip for cuda / mps)


def load_job(worker: Worker, spec: ModelSpec, device: str, download: bool, int8: bool
             ) -> Encoder:
    """Load (and, when asked, download) ``spec``; the text tower too, so that the first query
    does not wait for it."""
    from clipdesk.core import models

    progress = _download_progress_class(worker) if download else None
    encoder = models.load(spec, device=device, download=download, tqdm_class=progress,
                          int8=int8)
    worker.check()
    if hasattr(encoder, "load_text"):  # ONNX: the first query must not wait for it
        encoder.load_text()
    return encoder


class ModelController(QObject):
    """Owns ``spec``, ``device``, the loaded ``encoder`` and the ``ModelState``."""

    stateChanged = Signal(object, str)  # ModelState, message for the user
    downloadProgress = Signal(str, int, int)  # file, bytes done, bytes total
    loaded = Signal(int, object)  # generation, Encoder: its index is prepared next
    unavailable = Signal(str)  # the model could not be loaded (not cancelled): why

    def __init__(self, pool: Pool, settings: Settings, device: str,
                 gens: Generations | None = None, parent: QObject | None = None):
        super().__init__(parent)
        self.pool = pool
        self.settings = settings
        self.device = device
        self.gens = gens or Generations()
        self.spec: ModelSpec | None = None  # the model the library is (being) indexed with
        self.state = ModelState.UNKNOWN
        self.message = ""
        self.encoder: Encoder | None = None  # the loaded model for ``spec``
        self._worker: Worker | None = None
        self.closing = False

    @property
    def ready_encoder(self) -> Encoder | None:
        """The encoder while the model is READY (its index prepared); None otherwise."""
        return self.encoder if self.state is ModelState.READY else None

    def import_runtime(self) -> None:
        """The runtime takes a while to import: start it early, on the general pool."""
        self.pool.start(Worker(import_runtime_job, self.device, name="import runtime"))

    def load(self, download: bool = False) -> None:
        """Load ``spec`` in the background (downloading it first when asked)."""
        if self.spec is None or self.closing:
            return
        gen = self.gens.next("model")
        state = ModelState.DOWNLOADING if download else ModelState.LOADING
        self._set_state(state, f"{'Downloading' if download else 'Loading'} {self.spec.text}…")
        worker = Worker(load_job, self.spec, self.device, download, self.settings.int8,
                        generation=gen, name="load model")
        worker.signals.result.connect(self._on_loaded)
        worker.signals.error.connect(self.fail)
        worker.signals.cancelled.connect(self._on_cancelled)
        worker.signals.progress.connect(self._on_download_progress)
        self._worker = worker
        self.pool.start(worker)

    def cancel_download(self) -> None:
        worker = self._worker
        if worker is not None and self.state is ModelState.DOWNLOADING:
            worker.cancel()

    def close(self) -> None:
        """No more loads; a download in progress stops."""
        self.closing = True
        self.cancel_download()

    def target(self, spec_text: str, device: str | None = None
               ) -> tuple[ModelSpec, str] | None:
        """The (spec, device) that ``spec_text`` and ``device`` name, or None when that is
        what is in use already."""
        from clipdesk.core.models import ModelSpec

        spec = ModelSpec.parse(spec_text)
        device = device or self.device
        if self.spec is not None and spec.text == self.spec.text and device == self.device:
            return None
        return spec, device

    def switch(self, spec: ModelSpec, device: str) -> None:
        """Use another model (or device) from now on, remembered in the settings, and load it."""
        self.settings.model = spec.text
        self.device = device
        self.spec = spec
        self.encoder = None
        self.load(download=False)

    def ready(self, gen: int) -> bool:
        """The encoder of load ``gen`` has its index prepared: READY. False when that load is
        stale (another started since) or the app is closing."""
        if not self.gens.is_current("model", gen) or self.closing:
            return False
        assert self.encoder is not None
        self._set_state(ModelState.READY, f"Model {self.encoder.spec.text} "
                        f"({self.encoder.runtime}, {self.encoder.device})")
        return True

    @Slot(int, object)
    def fail(self, gen: int, error: JobError) -> None:
        """Load ``gen`` (or the preparation of its index) failed: MISSING or FAILED."""
        from clipdesk.core.errors import ClipDeskError, ModelUnavailable

        if not self.gens.is_current("model", gen):
            return
        if isinstance(error.exc, ModelUnavailable):
            self._set_state(ModelState.MISSING, str(error))
        elif isinstance(error.exc, ClipDeskError):
            self._set_state(ModelState.FAILED, str(error))
        else:
            log.error("the model could not be loaded:\n%s", error.traceback)
            self._set_state(ModelState.FAILED, f"the model could not be loaded: {error}")
        self.unavailable.emit(self.message)

    @Slot(int, object)
    def _on_loaded(self, gen: int, encoder: Encoder) -> None:
        if not self.gens.is_current("model", gen) or self.closing:
            return
        # the runtime and the model bring many long-lived Python objects (torch ~400,000); a full garbage
        # collection walking them holds the GUI thread for ~200 ms. Exempt them from it.
        gc.freeze()
        self.encoder = encoder
        self.loaded.emit(gen, encoder)

    @Slot(int, object)
    def _on_download_progress(self, gen: int, payload) -> None:
        if self.gens.is_current("model", gen):
            self.downloadProgress.emit(*payload)

    @Slot(int)
    def _on_cancelled(self, gen: int) -> None:
        if self.gens.is_current("model", gen):
            self._set_state(ModelState.MISSING, "Download cancelled.")

    def _set_state(self, state: ModelState, message: str) -> None:
        self.state, self.message = state, message
        self.stateChanged.emit(state, message)
