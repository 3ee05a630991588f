"""Background jobs: a ``QRunnable`` with a separate signals object (superqt's pattern).

A job function receives the ``Worker`` as its first argument, to check ``cancelled`` and to
report ``progress``. Results and errors come back on the GUI thread through queued signals,
each tagged with the job's generation number so that a receiver can drop stale answers.
Functions return plain data (QImage, numpy arrays, dataclasses), never QPixmap or widgets.
"""

from __future__ import annotations

import logging
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal

log = logging.getLogger(__name__)


class Cancelled(Exception):
    """Raised inside a job (by ``Worker.check``) when it was asked to stop."""


@dataclass
class JobError:
    """What a failed job reports: the exception and its formatted traceback."""

    exc: BaseException
    traceback: str

    def __str__(self) -> str:
        return str(self.exc) or type(self.exc).__name__


class WorkerSignals(QObject):
    """Lives on the GUI thread; the worker emits from its pool thread (queued delivery)."""

    started = Signal(int)
    result = Signal(int, object)  # generation, value
    error = Signal(int, object)  # generation, JobError
    cancelled = Signal(int)
    progress = Signal(int, object)  # generation, payload
    finished = Signal(int)  # always last, after result / error / cancelled


class Worker(QRunnable):
    """Runs ``fn(worker, *args, **kwargs)`` in a thread pool."""

    def __init__(self, fn: Callable[..., Any], *args, generation: int = 0, name: str = "",
                 **kwargs):
        super().__init__()
        self.setAutoDelete(False)  # Python owns it; the pool only borrows it
        self.fn, self.args, self.kwargs = fn, args, kwargs
        self.generation = generation
        self.name = name or getattr(fn, "__name__", "job")
        self.signals = WorkerSignals()
        self._cancel = threading.Event()
        self.done = threading.Event()

    # ---------------------------------------------------------------- inside the job

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def check(self) -> None:
        if self._cancel.is_set():
            raise Cancelled()

    # ---------------------------------------------------------------- from anywhere

    def cancel(self) -> None:
        self._cancel.set()

    def _emit(self, signal: str, *args) -> None:
        try:
            getattr(self.signals, signal).emit(*args)
        except RuntimeError:  # the app is gone (quit while this job ran): nobody listens
            log.debug("%s: %s after the app closed", self.name, signal)

    def run(self) -> None:
        gen = self.generation
        try:
            self._emit("started", gen)
            if self._cancel.is_set():
                raise Cancelled()
            value = self.fn(self, *self.args, **self.kwargs)
        except Cancelled:
            self._emit("cancelled", gen)
        except BaseException as exc:  # every failure must reach the GUI, never vanish
            if self._cancel.is_set():
                self._emit("cancelled", gen)
            else:
                log.debug("%s failed", self.name, exc_info=True)
                self._emit("error", gen, JobError(exc, traceback.format_exc()))
        else:
            self._emit("cancelled" if self._cancel.is_set() else "result",
                       *((gen,) if self._cancel.is_set() else (gen, value)))
        finally:
            self.done.set()
            self._emit("finished", gen)

    def progress(self, payload: object) -> None:
        self._emit("progress", self.generation, payload)


class Pool:
    """A named QThreadPool that keeps its workers alive until they finish."""

    def __init__(self, name: str, threads: int):
        self.name = name
        self.pool = QThreadPool()
        self.pool.setMaxThreadCount(max(1, threads))
        self.pool.setExpiryTimeout(-1)  # keep threads (and their SQLite connections) alive
        self._running: set[Worker] = set()
        self._lock = threading.Lock()

    def start(self, worker: Worker, priority: int = 0) -> Worker:
        with self._lock:
            self._running.add(worker)
        worker.signals.finished.connect(lambda _gen, w=worker: self._forget(w))
        self.pool.start(worker, priority)
        return worker

    def _forget(self, worker: Worker) -> None:
        with self._lock:
            self._running.discard(worker)

    def running(self) -> list[Worker]:
        with self._lock:
            return [w for w in self._running if not w.done.is_set()]

    def take(self, worker: Worker) -> bool:
        """Take a job that has not started out of the queue; it reports ``cancelled``."""
        if not self.pool.tryTake(worker):
            return False
        worker.cancel()
        worker.signals.cancelled.emit(worker.generation)
        worker.done.set()
        worker.signals.finished.emit(worker.generation)
        return True

    def cancel(self, worker: Worker) -> None:
        """A queued job never starts; a running one is asked to stop."""
        if not self.take(worker):
            worker.cancel()

    def cancel_all(self) -> None:
        for worker in self.running():
            self.cancel(worker)

    def wait(self, msecs: int = -1) -> bool:
        return self.pool.waitForDone(msecs)


class Generations:
    """Per-kind counters: ``next(kind)`` starts a generation; older ones are stale."""

    def __init__(self) -> None:
        self._current: dict[str, int] = {}

    def next(self, kind: str) -> int:
        self._current[kind] = self._current.get(kind, 0) + 1
        return self._current[kind]

    def current(self, kind: str) -> int:
        return self._current.get(kind, 0)

    def is_current(self, kind: str, generation: int) -> bool:
        return self._current.get(kind, 0) == generation
