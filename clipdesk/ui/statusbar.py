"""The status bar's indexing progress: done/total, photos per second, time left, Pause/Resume."""

from __future__ import annotations

import time
from collections import deque

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QPushButton, QWidget

RATE_WINDOW_S = 20.0


class RateMeter:
    """Photos per second over the last ``RATE_WINDOW_S`` seconds, and the time left."""

    def __init__(self, window: float = RATE_WINDOW_S, clock=time.monotonic):
        self.window = window
        self.clock = clock
        self._samples: deque[tuple[float, int]] = deque()

    def reset(self) -> None:
        self._samples.clear()

    def add(self, done: int) -> None:
        now = self.clock()
        if self._samples and done < self._samples[-1][1]:
            self._samples.clear()  # a new run started
        self._samples.append((now, done))
        while len(self._samples) > 2 and now - self._samples[0][0] > self.window:
            self._samples.popleft()

    @property
    def rate(self) -> float | None:
        if len(self._samples) < 2:
            return None
        (t0, d0), (t1, d1) = self._samples[0], self._samples[-1]
        return (d1 - d0) / (t1 - t0) if t1 > t0 and d1 > d0 else None

    def eta(self, total: int) -> float | None:
        rate = self.rate
        if not rate or not self._samples:
            return None
        return max(0.0, (total - self._samples[-1][1]) / rate)


def duration_text(seconds: float) -> str:
    if seconds < 60:
        return f"{max(1, round(seconds))} s"
    if seconds < 3600:
        return f"{round(seconds / 60)} min"
    hours, minutes = divmod(round(seconds / 60), 60)
    return f"{hours} h {minutes} min"


class IndexStatus(QWidget):
    """Shown while the library indexes; the button pauses (finished work is kept) and resumes."""

    pauseRequested = Signal()
    resumeRequested = Signal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.label = QLabel()
        self.bar = QProgressBar()
        self.bar.setMaximumWidth(180)
        self.bar.setTextVisible(False)
        self.button = QPushButton("Pause")
        self.button.setToolTip("Pause indexing; everything finished so far is kept")
        self.button.clicked.connect(self._clicked)
        layout.addWidget(self.label)
        layout.addWidget(self.bar)
        layout.addWidget(self.button)
        self.meter = RateMeter()
        self.done = self.total = 0
        self.paused = False
        self.hide()

    def started(self, what: str) -> None:
        self.paused = False
        self.meter.reset()
        self.done = self.total = 0
        self.label.setText(what)
        self.bar.setRange(0, 0)  # busy until the first batch reports
        self.button.setText("Pause")
        self.button.setEnabled(True)
        self.show()

    def progress(self, done: int, total: int) -> None:
        self.done, self.total = done, total
        self.meter.add(done)
        self.bar.setRange(0, max(1, total))
        self.bar.setValue(done)
        self.label.setText(self.text())

    def text(self) -> str:
        parts = [f"Indexing {self.done:,} / {self.total:,}"]
        rate = self.meter.rate
        if rate:
            parts.append(f"{rate:.1f} photos/s")
            eta = self.meter.eta(self.total)
            if eta is not None and self.done < self.total:
                parts.append(f"about {duration_text(eta)} left")
        return " · ".join(parts)

    def finished(self, paused: bool) -> None:
        """The run ended: hidden when done, or showing Resume when the user paused it."""
        if paused:
            self.label.setText(f"Paused at {self.done:,} / {self.total:,}" if self.total
                               else "Indexing paused")
            self.button.setText("Resume")
            self.button.setEnabled(True)
            self.bar.setRange(0, max(1, self.total))
            self.show()
        else:
            self.hide()

    def _clicked(self) -> None:
        if self.button.text() == "Pause":
            self.paused = True
            self.button.setEnabled(False)
            self.label.setText("Pausing after the current batch…")
            self.pauseRequested.emit()
        else:
            self.paused = False
            self.resumeRequested.emit()
