"""Following the library's folders as they change, for the app and ``clipdesk watch``.

watchdog reports events on its own threads; ``Watcher`` only records the touched paths
under a lock. The consumer (``LiveIndexer``, the one writer) takes the paths that have
settled and hands them to ``Indexer.sync_paths``, which works out from the disk what
happened: created, changed, renamed (same content: no CLIP run), moved out, deleted.

A path has settled when no event touched it for ``quiet`` seconds and its size and mtime
did not change since the previous look. Where the system reports file closes (inotify), a
file written to and not yet closed waits (up to ``max_open_wait``), so a camera import or a
big copy is read once, whole. A video settles only once it opens and tells its length too
(an MP4 being recorded or copied has no index yet), or after ``max_open_wait`` without change. Roots that hit the inotify watch limit, or sit on a network
file system, are followed by polling instead; a root that disappears (an unplugged drive)
goes offline with its photos kept, and is reconciled when it returns.
"""

from __future__ import annotations

import errno
import logging
import os
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer
from watchdog.observers.polling import PollingObserver

from clipdesk.core import video
from clipdesk.core.scan import LITTER, PARTIAL_SUFFIXES

log = logging.getLogger(__name__)

LIVE, POLLING, OFFLINE = "live", "polling", "offline"
NETWORK_FS = {"nfs", "nfs4", "cifs", "smb3", "smbfs", "afs", "9p", "fuse.sshfs", "sshfs",
              "davfs", "fuse.davfs2", "fuse.rclone", "ncpfs", "glusterfs", "ceph"}
CLOSE_EVENTS = sys.platform.startswith("linux")  # inotify tells when a writer closes a file


def ignored(path: str) -> bool:
    """Temporary, partial, hidden and system files never reach the indexer."""
    name = os.path.basename(path.rstrip("/\\"))
    return (name.startswith((".", "~$")) or name.lower() in LITTER
            or os.path.splitext(name)[1].lower() in PARTIAL_SUFFIXES)


def is_network_fs(path: Path) -> bool:
    """Whether ``path`` is on a network file system (Linux: /proc/mounts), where native
    change notification misses changes made by other machines."""
    try:
        mounts = Path("/proc/mounts").read_text().splitlines()
    except OSError:
        return False
    best, fstype = "", ""
    target = str(path)
    for line in mounts:
        parts = line.split()
        if len(parts) > 2:
            mount = parts[1].replace("\\040", " ")
            if (target == mount or target.startswith(mount.rstrip("/") + "/")) and len(mount) > len(best):
                best, fstype = mount, parts[2]
    return fstype in NETWORK_FS


@dataclass
class _Pending:
    last_event: float
    open_for_write: bool = False
    stat: tuple[int, int] | None = None  # (size, mtime_ns) at the previous look
    unfinished: tuple[int, int] | None = None  # a video's stat when it did not open whole


class _Collector(FileSystemEventHandler):
    """Runs on watchdog's threads: records touched paths, nothing else."""

    def __init__(self, watcher: Watcher):
        self.watcher = watcher

    def on_any_event(self, event: FileSystemEvent) -> None:
        kind = event.event_type
        if kind in ("opened", "closed_no_write") or (event.is_directory and kind == "modified"):
            return  # a folder's "modified" only echoes the file events inside it
        paths = [event.src_path] + ([event.dest_path] if kind == "moved" else [])
        for path in paths:
            path = os.fsdecode(path)
            if not ignored(path):
                self.watcher._touch(path, kind, event.is_directory)


class Watcher:
    """Watches the roots (recursive) and collects settled changes. Thread-safe."""

    def __init__(self, roots: list[Path], quiet: float = 0.5, max_open_wait: float = 60.0,
                 poll_interval: float = 1.0, polling: set[Path] = frozenset()):
        self.roots = [Path(r) for r in roots]
        self.quiet = quiet
        self.max_open_wait = max_open_wait
        self.poll_interval = poll_interval
        self._force_polling = {Path(p) for p in polling}
        self._lock = threading.Lock()
        self._pending: dict[str, _Pending] = {}
        self._collector = _Collector(self)
        self._native = Observer()
        self._poller = PollingObserver(timeout=poll_interval)
        self._watches: dict[Path, tuple[object, object]] = {}  # root -> (observer, watch)
        self.states: dict[Path, str] = {}
        self.messages: list[str] = []  # for the user: fallbacks and offline roots

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        self._native.start()
        self._poller.start()
        for root in self.roots:
            self._watch(root)

    def stop(self) -> None:
        for obs in (self._native, self._poller):
            obs.stop()
        for obs in (self._native, self._poller):
            if obs.is_alive():
                obs.join(timeout=5)

    def add_root(self, root: Path) -> None:
        root = Path(root)
        if root not in self.roots:
            self.roots.append(root)
            self._watch(root)

    def remove_root(self, root: Path) -> None:
        root = Path(root)
        self._unwatch(root)
        if root in self.roots:
            self.roots.remove(root)
        self.states.pop(root, None)

    def _schedule_native(self, root: Path):
        return self._native.schedule(self._collector, str(root), recursive=True)

    def _watch(self, root: Path) -> None:
        if not root.is_dir():
            self._set_state(root, OFFLINE, f"{root} is not available (offline); its photos are kept")
            return
        if root not in self._force_polling and not is_network_fs(root):
            try:
                self._watches[root] = (self._native, self._schedule_native(root))
                self._set_state(root, LIVE)
                return
            except OSError as exc:
                why = ("the system's limit on watched folders is reached (raise "
                       "fs.inotify.max_user_watches)" if exc.errno == errno.ENOSPC else str(exc))
                self._set_state(root, POLLING, f"{root}: {why}; checking for changes every "
                                f"{self.poll_interval:g} s instead")
        else:
            self._set_state(root, POLLING, f"{root}: network or removable drive; checking for "
                            f"changes every {self.poll_interval:g} s")
        self._watches[root] = (self._poller, self._poller.schedule(
            self._collector, str(root), recursive=True))

    def _unwatch(self, root: Path) -> None:
        entry = self._watches.pop(root, None)
        if entry is not None:
            observer, watch = entry
            try:
                observer.unschedule(watch)
            except (KeyError, OSError):
                pass

    def _set_state(self, root: Path, state: str, message: str = "") -> None:
        if self.states.get(root) != state and message:
            log.warning(message)
            self.messages.append(message)
        self.states[root] = state

    # ------------------------------------------------------------------ events

    def _touch(self, path: str, kind: str, is_dir: bool) -> None:
        now = time.monotonic()
        with self._lock:
            entry = self._pending.get(path)
            if entry is None:
                entry = self._pending[path] = _Pending(now)
            entry.last_event = now
            if CLOSE_EVENTS and not is_dir and kind == "modified":
                entry.open_for_write = True  # written to: wait for the writer to close it
            elif kind in ("closed", "deleted", "moved"):
                entry.open_for_write = False

    def check_roots(self) -> list[Path]:
        """Notice roots that went away or came back; returns the roots that came back."""
        back = []
        for root in list(self.roots):
            state = self.states.get(root)
            if state == OFFLINE and root.is_dir():
                self._unwatch(root)
                self._watch(root)
                back.append(root)
            elif state != OFFLINE and not root.is_dir():
                self._unwatch(root)
                self._set_state(root, OFFLINE, f"{root} is not available (offline); its photos are kept")
                with self._lock:  # nothing under an offline root can settle into a deletion
                    for path in [p for p in self._pending if Path(p).is_relative_to(root)]:
                        del self._pending[path]
        return back

    def take_settled(self, limit: int = 5000) -> list[str]:
        """Paths whose changes have settled (at most ``limit``), removed from the pending set."""
        now = time.monotonic()
        with self._lock:
            candidates = [(p, e) for p, e in self._pending.items() if now - e.last_event >= self.quiet]
        ready = []
        for path, entry in candidates:
            if entry.open_for_write and now - entry.last_event < self.max_open_wait:
                continue  # still being written (no close seen yet)
            try:
                st = os.stat(path)
                stat = (st.st_size, st.st_mtime_ns)
            except OSError:
                stat = None  # gone: settled by definition
            with self._lock:
                if self._pending.get(path) is not entry or entry.last_event > now:
                    continue  # touched again meanwhile
                if stat is not None and entry.stat != stat:
                    entry.stat = stat  # look once more next time
                    continue
                video_check = (stat is not None and video.is_video_name(path)
                               and now - entry.last_event < self.max_open_wait)
                if video_check and entry.unfinished == stat:
                    continue  # the same bytes that did not open whole: still being written
            if video_check and not video.complete(path):
                entry.unfinished = stat
                continue
            with self._lock:
                if self._pending.get(path) is not entry or entry.last_event > now:
                    continue
                del self._pending[path]
            ready.append(path)
            if len(ready) >= limit:
                break
        return ready

    @property
    def pending_count(self) -> int:
        with self._lock:
            return len(self._pending)


class LiveIndexer:
    """Reconcile the library with its folders, then follow them until stopped: the one watch
    loop, for ``clipdesk watch`` (``run``) and the app (which calls ``step`` on its writer
    thread from a timer).

    ``on_batch(report, messages)`` is called (on this thread) after each batch of changes;
    ``messages`` are the watcher's notes (a folder polled, gone, back)."""

    def __init__(self, indexer, watcher: Watcher | None = None, tick: float = 0.1,
                 on_batch: Callable | None = None):
        self.indexer = indexer
        roots = [p for _, p in indexer.catalog.roots()]
        self.watcher = watcher or Watcher(roots)
        self.tick = tick
        self.on_batch = on_batch
        self.stop_event = threading.Event()
        self.steps = 0  # steps taken: how tests wait for "the loop looked again" without sleeping

    def stop(self) -> None:
        self.stop_event.set()
        self.indexer.stop()

    def take_messages(self) -> list[str]:
        messages = list(self.watcher.messages)
        self.watcher.messages.clear()
        return messages

    def step(self):
        """Follow added and removed roots, then bring what settled (and any root that went
        or came back) up to date. Returns (IndexReport or None when nothing changed,
        messages)."""
        roots = [p for _, p in self.indexer.catalog.roots()]
        for root in roots:
            self.watcher.add_root(root)
        for root in [r for r in self.watcher.roots if r not in roots]:
            self.watcher.remove_root(root)
        changes = [str(r) for r in self.watcher.check_roots()] + self.watcher.take_settled()
        report = self.indexer.sync_paths(changes) if changes else None
        self.steps += 1
        return report, self.take_messages()

    def run(self) -> None:
        self.watcher.start()
        try:
            report = self.indexer.run()  # what changed while nothing was running
            if self.on_batch:
                self.on_batch(report, self.take_messages())
            while not report.interrupted and not self.stop_event.wait(self.tick):
                changed, messages = self.step()
                if changed is not None:
                    report = changed
                if self.on_batch and (changed is not None or messages):
                    self.on_batch(changed, messages)
        finally:
            self.watcher.stop()
            self.indexer.save()
