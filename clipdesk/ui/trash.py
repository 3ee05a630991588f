"""Moving photos to the system trash: the one place where ClipDesk changes a photo folder
(the duplicates view's confirmed Move to Trash).

Qt's ``QFile.moveToTrash`` uses the platform's trash (the Recycle Bin, the macOS Trash, the
freedesktop.org trash on Linux: ``$XDG_DATA_HOME/Trash/files`` with a ``.trashinfo`` each, or
a ``.Trash-$uid`` folder on another drive), so every move can be undone from there. What it
does not do is added here:

* On Linux (Qt 6.11) it hard-links the photo into the trash, then unlinks the original; when
  the folder refuses the unlink (read-only, immutable) it still reports success, leaving the
  photo in both places. So we check the original is gone. When it is not, the trash's extra
  link and its ``.trashinfo`` are taken back (only after checking the link *is* the photo
  still in place, so nothing is lost) and the move is reported as failed.
* A photo that vanished or changed (size, modification time) since ClipDesk looked at it is
  not moved: the user confirmed a different file.

There is no fallback: when a photo cannot go to the trash it stays where it is, and the
reason says so. Nothing here deletes a photo. Safe to call from a worker thread.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

from PySide6.QtCore import QFile

log = logging.getLogger(__name__)

MTIME_SLACK_S = 0.001  # the catalog keeps nanoseconds; a float of seconds rounds them

KEPT = "it is still where it was; nothing was deleted"


@dataclass(frozen=True)
class TrashRequest:
    """A photo the user confirmed, with the size and modification time they were shown."""

    path: str
    size: int
    mtime: float  # seconds since the epoch


@dataclass
class TrashResult:
    """What a move did: ``moved`` is (photo, where it is in the trash) and ``failed`` is
    (photo, why it was not moved); every failed photo is still in its folder."""

    moved: list[tuple[str, str]] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)

    @property
    def moved_paths(self) -> list[str]:
        return [path for path, _ in self.moved]


class TrashError(Exception):
    """A photo could not be moved to the trash; it was left where it was."""


def changed_since(path: str, size: int, mtime: float) -> str | None:
    """Why the file at ``path`` is no longer the one ClipDesk recorded (gone, or a different
    size or time), or None when it is the same."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return "it is no longer there"
    except OSError as exc:
        return f"it cannot be read ({exc.strerror})"
    if st.st_size != size or abs(st.st_mtime_ns / 1e9 - mtime) > MTIME_SLACK_S:
        return "it changed since the duplicates were found"
    return None


def move_to_trash(path: str) -> str:
    """Move one file to the system trash; returns where it went. Raises TrashError (the file
    still in place) when there is no usable trash or the folder refuses."""
    folder = os.path.dirname(path) or "."
    if not os.access(folder, os.W_OK | os.X_OK):
        raise TrashError(f"its folder {folder} is read-only")
    file = QFile(path)
    if not file.moveToTrash():
        why = file.errorString() or "unknown error"
        raise TrashError(f"there is no usable trash for it ({why})")
    where = file.fileName()  # after a move: the file's place in the trash
    if os.path.lexists(path):
        _take_back(path, where)
        raise TrashError(f"its folder {folder} does not allow removing files (read-only)")
    return where


def _take_back(path: str, where: str) -> None:
    """Undo a half move (the photo linked into the trash but still in place): remove the trash's
    second name for the same file and its .trashinfo. Only ever a second name: when ``where``
    is not the very file at ``path``, it is left alone."""
    try:
        same = where != path and os.path.samefile(path, where)
    except OSError:
        same = False
    if not same:
        log.error("a trash move left %s in place and %s in the trash; both kept", path, where)
        return
    os.unlink(where)  # the photo itself stays, at ``path``
    info = Path(where).parent.parent / "info" / (Path(where).name + ".trashinfo")
    try:
        info.unlink()
    except FileNotFoundError:
        pass


def trash_files(requests: list[TrashRequest]) -> TrashResult:
    """Move each confirmed photo that is still the one the user saw to the system trash."""
    result = TrashResult()
    for request in requests:
        why = changed_since(request.path, request.size, request.mtime)
        if why is None:
            try:
                result.moved.append((request.path, move_to_trash(request.path)))
                continue
            except TrashError as exc:
                why = str(exc)
            except OSError as exc:  # taking back a half move failed: say what is where
                why = f"the move failed ({exc.strerror}); look in the trash"
        log.info("not moved to the trash: %s: %s", request.path, why)
        result.failed.append((request.path, why))
    return result
