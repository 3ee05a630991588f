"""One writer per library, across processes.

The catalog (SQLite, WAL) lets readers search while one process writes, but two indexers on
one library would race over the same files and the usearch file. So whoever updates a
library (``clipdesk index``, ``clipdesk watch``, the app) first takes ``writer.lock`` in the
library folder: an OS file lock (``flock`` / ``LockFileEx`` via the *filelock* package), which
the OS drops when the process ends, even when it is killed. ``writer.json`` beside it says
who holds it, so the one turned away gets a message that names the holder.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import time
from pathlib import Path

from filelock import FileLock, Timeout

from clipdesk.core.errors import LibraryBusy, LibraryError

log = logging.getLogger(__name__)

LOCK_NAME = "writer.lock"
HOLDER_NAME = "writer.json"


class WriterLock:
    """The library's writer lock, held by this process until ``release()`` (or exit)."""

    def __init__(self, folder: Path, role: str):
        self.folder = Path(folder)
        self.role = role
        self._lock = FileLock(self.folder / LOCK_NAME, thread_local=False)

    @property
    def held(self) -> bool:
        return self._lock.is_locked

    def acquire(self) -> None:
        """Take the lock now or raise :class:`LibraryBusy` naming who has it."""
        if self.held:
            return
        try:
            self._lock.acquire(timeout=0)
        except Timeout:
            raise LibraryBusy(busy_message(self.folder)) from None
        except OSError as exc:  # a read-only library folder, for one
            raise LibraryError(
                f"cannot update the library {self.folder} ({exc.strerror or exc}): it can be "
                f"searched, but updating it needs a folder ClipDesk may write to"
            ) from exc
        info = {"pid": os.getpid(), "role": self.role, "host": socket.gethostname(),
                "since": time.time()}
        tmp = self.folder / (HOLDER_NAME + ".tmp")
        try:
            tmp.write_text(json.dumps(info), encoding="utf-8")
            os.replace(tmp, self.folder / HOLDER_NAME)
        except OSError as exc:  # the message for others is a nicety; the lock is what counts
            log.warning("could not record the library's writer: %s", exc)

    def release(self) -> None:
        if not self.held:
            return
        try:
            (self.folder / HOLDER_NAME).unlink(missing_ok=True)
        except OSError:
            pass
        self._lock.release(force=True)


def holder(folder: Path) -> dict | None:
    """Who holds the writer lock, as recorded by the holder (None if unknown)."""
    try:
        info = json.loads((Path(folder) / HOLDER_NAME).read_text(encoding="utf-8"))
        return info if isinstance(info, dict) else None
    except (OSError, ValueError):
        return None


def busy_message(folder: Path) -> str:
    info = holder(folder)
    who = "another ClipDesk process"
    if info:
        since = time.strftime("%H:%M", time.localtime(float(info.get("since", 0))))
        who = f"{info.get('role', 'ClipDesk')} (process {info.get('pid', '?')}, since {since})"
        if info.get("host") and info.get("host") != socket.gethostname():
            who += f" on {info['host']}"
    return (
        f"the library {folder} is being updated by {who}. One program updates a library at a "
        f"time: close it or stop it first (searching works meanwhile)."
    )
