"""Thumbnails for the grid: read off the GUI thread, newest request first, kept in an LRU.

calibre's cover grid, in short: the delegate asks for a thumbnail while painting; on a miss it
paints a placeholder and the loader queues the request. The loader's threads take the
*newest* request first (LIFO), so the tiles on screen now fill before the ones scrolled past,
and old requests beyond ``MAX_PENDING`` are dropped (they are asked for again if painted
again). A thread returns a ``QImage``; the GUI thread turns it into a ``QPixmap``, puts it in
the LRU and repaints the tiles that wait for it. Changing the tile size starts a new
generation: images of the old size that are still in flight are dropped.

A tile reads the JPEG thumbnail the indexer wrote, with Qt's reader (the fast path). When that
is missing (trimmed, deleted, not written yet) it decodes the photo itself with ClipDesk's
decoder (``images.read_photo``), which reads every format ClipDesk indexes.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections import OrderedDict, deque
from dataclasses import dataclass

from PySide6.QtCore import QObject, QRunnable, QSize, Qt, QThreadPool, QTimer, Signal, Slot
from PySide6.QtGui import QImage, QImageReader, QPixmap

from clipdesk.ui.images import read_photo

MAX_PENDING = 400
BATCH_BUDGET_S = 0.008  # GUI time per batch of arrived thumbnails


def read_thumbnail(path: str, fit: QSize | None = None) -> QImage:
    """A thumbnail ClipDesk wrote (a JPEG) as a QImage, scaled down to ``fit``; null when it is
    missing. Safe in any thread. Qt's reader, for speed: only for ClipDesk's own thumbnails;
    photos go through ``images.load_photo``, which reads every format ClipDesk indexes."""
    reader = QImageReader(path)
    reader.setAutoTransform(True)
    if fit is not None and fit.isValid():
        size = reader.size()
        if size.isValid() and (size.width() > 2 * fit.width() or size.height() > 2 * fit.height()):
            # the scaled size is of the stored picture, before the EXIF turn
            box = fit.transposed() if _swaps_sides(reader) else fit
            reader.setScaledSize(size.scaled(box * 2, Qt.AspectRatioMode.KeepAspectRatio))
    image = reader.read()
    if image.isNull():
        return image
    if fit is not None and fit.isValid() and (image.width() > fit.width()
                                               or image.height() > fit.height()):
        image = image.scaled(fit, Qt.AspectRatioMode.KeepAspectRatio,
                             Qt.TransformationMode.SmoothTransformation)
    return image


def _swaps_sides(reader: QImageReader) -> bool:
    """Whether EXIF orientation turns the picture by 90 degrees (width and height swap)."""
    from PySide6.QtGui import QImageIOHandler

    return bool(reader.transformation() & QImageIOHandler.Transformation.TransformationRotate90)


@dataclass
class _Request:
    key: str
    photo: str
    thumbnail: str | None  # read first; the photo itself when this is missing
    generation: int


class _Drainer(QRunnable):
    """The loader's pool job, owned by Python and started again and again (auto-delete off).
    ``QRunnable.create`` makes a runnable the pool deletes after each run; under a stream of
    requests (scrolling through cold thumbnails) its wrapper's end raced with Shiboken's and
    crashed the app in ``BindingManager::releaseWrapper``."""

    def __init__(self, fn):
        super().__init__()
        self.setAutoDelete(False)
        self._fn = fn

    def run(self) -> None:
        self._fn()


class _Signals(QObject):
    loaded = Signal(int, str, QImage)  # generation, key, image (null when it could not be read)


class ThumbnailLoader(QObject):
    """Reads thumbnails in its own small pool; ``ready(key)`` when a pixmap is in the cache."""

    ready = Signal(list)  # keys whose pixmaps just arrived

    def __init__(self, threads: int = 2, cache_bytes: int = 160 * 2**20,
                 parent: QObject | None = None):
        super().__init__(parent)
        self.pool = QThreadPool(self)
        self.pool.setMaxThreadCount(threads)
        self.pool.setExpiryTimeout(-1)  # starting threads anew costs GUI time on every scroll
        self._threads = threads
        self._lock = threading.Lock()
        self._pending: OrderedDict[str, _Request] = OrderedDict()
        self._active = 0
        self._generation = 0
        self._size = QSize(160, 160)
        self._dpr = 1.0
        self.cache = PixmapCache(cache_bytes)
        self._failed: set[str] = set()
        self._in_flight: set[str] = set()
        self._signals = _Signals()
        self._drainer = _Drainer(self._drain)
        self._signals.loaded.connect(self._on_loaded)
        self._arrived: deque[tuple[str, QImage]] = deque()
        self._flush = QTimer(self)
        self._flush.setSingleShot(True)
        self._flush.setInterval(0)
        self._flush.timeout.connect(self._process_arrived)

    # ---------------------------------------------------------------- GUI thread

    @property
    def size(self) -> QSize:
        return QSize(self._size)

    def set_size(self, size: QSize, device_pixel_ratio: float = 1.0) -> None:
        """New tile size (device pixels): forget pixmaps of the old size and drop requests
        in flight."""
        self._dpr = device_pixel_ratio
        if size == self._size:
            return
        with self._lock:
            self._size = QSize(size)
            self._generation += 1
            self._pending.clear()
            self._in_flight.clear()
        self._failed.clear()
        self._arrived.clear()
        self.cache.clear()

    def pixmap(self, key: str) -> QPixmap | None:
        return self.cache.get(key)

    def failed(self, key: str) -> bool:
        return key in self._failed

    def request(self, key: str, photo: str, thumbnail: str | None = None) -> None:
        """Ask for the picture of ``photo``, from its ``thumbnail`` file when there is one; the
        newest request is served first."""
        if key in self._failed or self.cache.contains(key):
            return
        start = False
        with self._lock:
            if key in self._pending:
                self._pending.move_to_end(key)
            elif key not in self._in_flight:
                self._pending[key] = _Request(key, photo, thumbnail, self._generation)
                while len(self._pending) > MAX_PENDING:
                    self._pending.popitem(last=False)
            if self._pending and self._active < self._threads:
                self._active += 1
                start = True
        if start:
            self.pool.start(self._drainer)

    def queued(self, key: str) -> bool:
        """Whether a request for ``key`` is waiting or being read (not dropped, not done)."""
        with self._lock:
            return key in self._pending or key in self._in_flight

    def drop_pending(self) -> None:
        """Forget queued requests (the results changed); what is on screen asks again."""
        with self._lock:
            self._pending.clear()

    def wait(self, msecs: int = -1) -> bool:
        self.drop_pending()
        return self.pool.waitForDone(msecs)

    @Slot(int, str, QImage)
    def _on_loaded(self, generation: int, key: str, image: QImage) -> None:
        if generation != self._generation:
            return
        self._arrived.append((key, image))
        if not self._flush.isActive():
            self._flush.start()

    def _process_arrived(self) -> None:
        """Turn arrived images into pixmaps under a time budget, then announce them at once."""
        deadline = time.perf_counter() + BATCH_BUDGET_S
        keys = []
        while self._arrived and time.perf_counter() < deadline:
            key, image = self._arrived.popleft()
            with self._lock:
                self._in_flight.discard(key)
            if image.isNull():
                self._failed.add(key)
            else:
                pixmap = QPixmap.fromImage(image)
                pixmap.setDevicePixelRatio(self._dpr)
                self.cache.put(key, pixmap)
            keys.append(key)
        if self._arrived:
            self._flush.start()
        if keys:
            self.ready.emit(keys)

    # ---------------------------------------------------------------- pool threads

    def _drain(self) -> None:
        _lower_priority()
        while True:
            with self._lock:
                if not self._pending:
                    self._active -= 1
                    return
                key, req = self._pending.popitem(last=True)  # LIFO: the newest first
                size = QSize(self._size)
                if req.generation != self._generation:
                    continue
                self._in_flight.add(key)
            image = read_thumbnail(req.thumbnail, size) if req.thumbnail else QImage()
            if image.isNull():
                image = read_photo(req.photo, size)
            self._signals.loaded.emit(req.generation, key, image)


_lowered = threading.local()
NICE = 10  # loader threads yield to the GUI thread when the cores are busy


def _lower_priority() -> None:
    """Make this pool thread lower priority than the GUI thread, once. On a busy 2-core
    machine two decoding threads otherwise take turns with the GUI thread and every frame
    waits for them (120 ms stalls while scrolling through cold thumbnails)."""
    if getattr(_lowered, "done", False) or not NICE:
        return
    _lowered.done = True
    try:
        if sys.platform.startswith("linux"):  # nice is per thread on Linux
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), NICE)
        else:
            from PySide6.QtCore import QThread

            QThread.currentThread().setPriority(QThread.Priority.LowPriority)
    except (OSError, AttributeError):
        pass


class PixmapCache:
    """Least recently used pixmaps, bounded by their size in bytes."""

    def __init__(self, max_bytes: int):
        self.max_bytes = max_bytes
        self._items: OrderedDict[str, QPixmap] = OrderedDict()
        self._bytes = 0

    @staticmethod
    def _cost(pixmap: QPixmap) -> int:
        return pixmap.width() * pixmap.height() * 4

    def __len__(self) -> int:
        return len(self._items)

    @property
    def bytes(self) -> int:
        return self._bytes

    def contains(self, key: str) -> bool:
        return key in self._items

    def get(self, key: str) -> QPixmap | None:
        pixmap = self._items.get(key)
        if pixmap is not None:
            self._items.move_to_end(key)
        return pixmap

    def put(self, key: str, pixmap: QPixmap) -> None:
        old = self._items.pop(key, None)
        if old is not None:
            self._bytes -= self._cost(old)
        self._items[key] = pixmap
        self._bytes += self._cost(pixmap)
        while self._bytes > self.max_bytes and len(self._items) > 1:
            _, dropped = self._items.popitem(last=False)
            self._bytes -= self._cost(dropped)

    def clear(self) -> None:
        self._items.clear()
        self._bytes = 0
