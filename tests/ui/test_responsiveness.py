"""The GUI thread never stalls for 50 ms or more while a library indexes (scrolling through
100,000 results is tests/ui/test_grid_scale.py, measured in CPU time).

A repeating 5 ms timer records how late each tick comes; the longest lateness is the longest
time the GUI thread could not react to the user.
"""

from __future__ import annotations

import time

import pytest
from PySide6.QtCore import QElapsedTimer, QObject, QTimer
from test_library import make_photos

from clipdesk.ui.engine import ModelState

STALL_LIMIT_MS = 50
TICK_MS = 5


class StallMeter(QObject):
    def __init__(self):
        super().__init__()
        self.timer = QTimer(self)
        self.timer.setInterval(TICK_MS)
        self.timer.timeout.connect(self._tick)
        self.clock = QElapsedTimer()
        self.worst_ms = 0.0
        self.ticks = 0

    def start(self) -> None:
        self.worst_ms, self.ticks = 0.0, 0
        self.clock.start()
        self.timer.start()

    def stop(self) -> float:
        self.timer.stop()
        return self.worst_ms

    def _tick(self) -> None:
        late = self.clock.nsecsElapsed() / 1e6 - TICK_MS
        self.clock.restart()
        self.worst_ms = max(self.worst_ms, late)
        self.ticks += 1


@pytest.mark.slow
def test_no_stall_while_a_library_indexes(qtbot, open_window, tmp_path, random_model):
    photos = tmp_path / "photos"
    make_photos(photos, 200, size=(2000, 1500))
    window = open_window(tmp_path / "lib", model=random_model)
    qtbot.waitUntil(lambda: window.engine.model_state is ModelState.READY, timeout=30_000)
    meter = StallMeter()
    meter.start()
    start = time.monotonic()
    with qtbot.waitSignal(window.engine.indexingFinished, timeout=120_000) as finished:
        window.add_folders([photos])
    seconds = time.monotonic() - start
    worst = meter.stop()
    assert finished.args[0].embedded == 200
    print(f"\nindexing 200 photos took {seconds:.1f} s; {meter.ticks} ticks; "
          f"longest GUI stall {worst:.1f} ms")
    assert meter.ticks > seconds * 1000 / TICK_MS / 4  # the meter really ran all along
    assert worst < STALL_LIMIT_MS
