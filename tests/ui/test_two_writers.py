"""The app and another ClipDesk process on one library: the app searches while the other
updates, and takes over updating when the other ends (even when it is killed)."""

from __future__ import annotations

import subprocess
import sys

from uihelpers import photo_class, shown_paths, type_query, wait_ready

HOLD = """
import sys, time
from pathlib import Path
from clipdesk.core.writerlock import WriterLock
lock = WriterLock(Path(sys.argv[1]), "`clipdesk watch`")
lock.acquire()
print("held", flush=True)
time.sleep(600)
"""


def test_app_searches_while_another_process_updates_then_takes_over(
        qtbot, open_window, library_copy, monkeypatch):
    from clipdesk.core import writerlock
    from clipdesk.ui import librarywriter

    monkeypatch.setattr(librarywriter, "CLAIM_EVERY_MS", 300)
    other = subprocess.Popen([sys.executable, "-c", HOLD, str(library_copy)],
                             stdout=subprocess.PIPE, text=True)
    try:
        assert other.stdout.readline().strip() == "held"
        window = open_window(library_copy)
        wait_ready(qtbot, window)
        qtbot.waitUntil(lambda: "searching only" in window.library_label.text(), timeout=20_000)
        assert "`clipdesk watch` (process" in window.library_label.toolTip()
        type_query(qtbot, window, "a photo of a red circle")
        assert photo_class(shown_paths(window, 1)[0]) == "red-circle"
        assert not window.engine.library.is_writer
        assert writerlock.holder(library_copy)["pid"] == other.pid
    finally:
        other.kill()  # SIGKILL: the OS drops its lock
        other.wait()
    qtbot.waitUntil(lambda: window.engine.library.is_writer
                    and "searching only" not in window.library_label.text(), timeout=20_000)
    assert writerlock.holder(library_copy)["role"] == "the ClipDesk app"
