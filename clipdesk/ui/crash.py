"""Unexpected errors: logged with their traceback, shown in a dialog that points at the log
(instead of the app vanishing), and mentioned again at the next launch (qutebrowser's way).

A hard crash (a segfault in Qt or a native library) leaves no Python exception to catch, only
faulthandler's traceback in ``crash.log`` (``clipdesk.logs``); the next launch offers it.
"""

from __future__ import annotations

import logging
import sys
import threading
import traceback
from pathlib import Path

from PySide6.QtCore import QObject, QUrl, Signal, Slot
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import QApplication, QMessageBox, QWidget

from clipdesk.logs import CRASH_FILE, new_crash_report

log = logging.getLogger("clipdesk.crash")

MARKER = "last-error.txt"


class CrashHandler(QObject):
    """Install once; ``report`` may be called from any thread."""

    _reported = Signal(str, str)  # summary, details (queued to the GUI thread)

    def __init__(self, log_path: Path | None, parent: QObject | None = None):
        super().__init__(parent)
        self.log_path = log_path
        self.window: QWidget | None = None
        self.dialog: QMessageBox | None = None
        self.crash_dialog: QMessageBox | None = None
        self.count = 0
        self._reported.connect(self._show)
        self._previous_hooks = None

    def install(self) -> None:
        self._previous_hooks = (sys.excepthook, threading.excepthook)
        sys.excepthook = self.excepthook
        threading.excepthook = lambda args: self.excepthook(args.exc_type, args.exc_value,
                                                            args.exc_traceback)

    def uninstall(self) -> None:
        if self._previous_hooks is not None:
            sys.excepthook, threading.excepthook = self._previous_hooks
            self._previous_hooks = None

    def excepthook(self, exc_type, exc, tb) -> None:
        if issubclass(exc_type, KeyboardInterrupt):
            app = QApplication.instance()
            if app is not None:
                app.quit()
            return
        details = "".join(traceback.format_exception(exc_type, exc, tb))
        self.report(f"{exc_type.__name__}: {exc}", details)

    def report(self, summary: str, details: str) -> None:
        log.critical("unexpected error: %s\n%s", summary, details)
        self._write_marker(summary)
        self._reported.emit(summary, details)

    def _write_marker(self, summary: str) -> None:
        if self.log_path is None:
            return
        try:
            (self.log_path.parent / MARKER).write_text(summary + "\n", encoding="utf-8")
        except OSError:
            pass

    @Slot(str, str)
    def _show(self, summary: str, details: str) -> None:
        self.count += 1
        if self.dialog is not None and self.dialog.isVisible():
            return  # one dialog at a time; the log has every error
        where = str(self.log_path) if self.log_path else "the log (no log file could be opened)"
        box = QMessageBox(self.window)
        box.setIcon(QMessageBox.Icon.Critical)
        box.setWindowTitle("ClipDesk: unexpected error")
        box.setText("ClipDesk ran into an unexpected problem. Your library is safe; you can "
                    "keep working, or restart ClipDesk if something looks wrong.")
        box.setInformativeText(f"{summary}\n\nThe details are in {where}. Please attach that "
                               "file if you report the problem.")
        box.setDetailedText(details)
        self.open_log_button = box.addButton("Open log folder", QMessageBox.ButtonRole.ActionRole)
        box.addButton(QMessageBox.StandardButton.Close)
        box.buttonClicked.connect(self._clicked)
        self.dialog = box
        box.open()

    def _clicked(self, button) -> None:
        if button is getattr(self, "open_log_button", None) and self.log_path is not None:
            QDesktopServices.openUrl(QUrl.fromLocalFile(str(self.log_path.parent)))

    def show_previous_crash(self, report: str) -> None:
        """Offer the crash log of a run that died in native code (``previous_crash``)."""
        assert self.log_path is not None  # previous_crash found it beside the log
        crash_log = self.log_path.parent / CRASH_FILE
        box = QMessageBox(self.window)
        box.setIcon(QMessageBox.Icon.Warning)
        box.setWindowTitle("ClipDesk: it stopped unexpectedly last time")
        box.setText("ClipDesk stopped unexpectedly the last time it ran (a crash in Qt or another "
                    "native library). Your library is safe: what was indexed before is kept.")
        box.setInformativeText(f"What it could still say is in {crash_log}. Please attach that "
                               f"file and {self.log_path.name} beside it if you report the "
                               "problem.")
        box.setDetailedText(report)
        open_button = box.addButton("Open crash log", QMessageBox.ButtonRole.ActionRole)
        box.addButton(QMessageBox.StandardButton.Close)
        box.buttonClicked.connect(lambda button: button is open_button and
                                  QDesktopServices.openUrl(QUrl.fromLocalFile(str(crash_log))))
        self.crash_dialog = box
        box.open()


def previous_error(log_path: Path | None) -> str | None:
    """The summary of an unexpected error from the last run (and forget it)."""
    if log_path is None:
        return None
    marker = log_path.parent / MARKER
    try:
        text = marker.read_text(encoding="utf-8").strip()
        marker.unlink()
    except OSError:
        return None
    return text or None


def previous_crash(log_path: Path | None) -> str | None:
    """What ``crash.log`` beside the log gained since the last launch looked (a hard crash of
    the app or of a command), or None."""
    if log_path is None:
        return None
    return new_crash_report(log_path.parent)
