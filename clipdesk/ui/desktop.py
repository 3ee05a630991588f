"""Handing photos to the rest of the desktop: the system viewer, the file manager, the clipboard."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

from PySide6.QtCore import QMimeData, QUrl
from PySide6.QtGui import QDesktopServices, QGuiApplication, QImage

log = logging.getLogger(__name__)


def open_file(path: str) -> bool:
    """Open a photo in the system's viewer."""
    return QDesktopServices.openUrl(QUrl.fromLocalFile(path))


def show_in_folder(path: str) -> bool:
    """Open the file manager at the photo's folder, with the photo selected where possible."""
    try:
        if sys.platform == "win32":
            subprocess.Popen(["explorer", "/select,", str(Path(path))])
            return True
        if sys.platform == "darwin":
            subprocess.Popen(["open", "-R", path])
            return True
        if _freedesktop_show_items(path):
            return True
    except OSError as exc:
        log.warning("could not show %s in the file manager: %s", path, exc)
    return QDesktopServices.openUrl(QUrl.fromLocalFile(str(Path(path).parent)))


def _freedesktop_show_items(path: str) -> bool:
    """The org.freedesktop.FileManager1 D-Bus call that Nautilus, Dolphin, Nemo... answer."""
    try:
        from PySide6.QtDBus import QDBusConnection, QDBusInterface, QDBusMessage
    except ImportError:
        return False
    bus = QDBusConnection.sessionBus()
    if not bus.isConnected():
        return False
    iface = QDBusInterface("org.freedesktop.FileManager1", "/org/freedesktop/FileManager1",
                           "org.freedesktop.FileManager1", bus)
    if not iface.isValid():
        return False
    reply = iface.call("ShowItems", [QUrl.fromLocalFile(path).toString()], "")
    return reply.type() != QDBusMessage.MessageType.ErrorMessage


def copy_paths(paths: list[str]) -> None:
    """Paths as text (one per line) and as file URLs, so file managers can paste the files."""
    mime = QMimeData()
    mime.setText("\n".join(paths))
    mime.setUrls([QUrl.fromLocalFile(p) for p in paths])
    QGuiApplication.clipboard().setMimeData(mime)


def copy_image(image: QImage, path: str) -> None:
    mime = QMimeData()
    mime.setImageData(image)
    mime.setUrls([QUrl.fromLocalFile(path)])
    QGuiApplication.clipboard().setMimeData(mime)
