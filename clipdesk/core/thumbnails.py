"""The library's thumbnail store: one small JPEG per photo content, which it writes, counts,
and deletes when no photo needs it any more or when the store outgrows its size limit.

Layout: ``<library>/thumbnails/<first two hex digits>/<hash>.jpg`` (the catalog module's
docstring shows it with the rest of the library). Keyed by content hash, so a renamed or
moved photo keeps its thumbnail and two copies of a photo share one. A video has one too (its
first frame that is not blank) and one per sampled frame, ``<hash>-t<milliseconds>.jpg``
(``frame_path``): they count, and go, with the video's hash.

A missing thumbnail is never an error: the indexer writes one when it reads a photo, and the
app's grid decodes the photo itself when its thumbnail is gone (deleted, trimmed, or a disk
that was full). That is what makes deleting them safe.

Only the library's writer deletes (``Library.tidy_thumbnails``). Readers may list or count
while it does, and it may delete while they read: every file operation here tolerates a file
or folder that has just vanished.
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from PIL import Image

log = logging.getLogger(__name__)

FOLDER_NAME = "thumbnails"
# About 100,000 photos' worth: a 320-px JPEG at quality 85 of a real photo is 15-25 kB.
# Past it, the least recently used go; the grid then decodes those photos themselves.
DEFAULT_LIMIT_BYTES = 2 * 2**30
RECOUNT_S = 60.0  # size(): a full count at most this often; own writes keep it current between
STALE_TEMP_S = 3600.0  # a temp file this old is a killed writer's leftover, not a write in flight

# blake2b-128 hex, a video frame's time after it: the only names the store deletes
_NAME = re.compile(r"([0-9a-f]{32})(?:-t[0-9]{1,10})?\.jpg")


@dataclass
class _Entry:
    hash: str
    path: str
    size: int
    used: float  # last access or write (the later), seconds since the epoch


class ThumbnailStore:
    """The ``thumbnails`` folder of one library. Safe to use from several threads."""

    def __init__(self, library_folder: Path, limit_bytes: int = DEFAULT_LIMIT_BYTES):
        self.folder = Path(library_folder) / FOLDER_NAME
        self.limit_bytes = limit_bytes
        self._lock = threading.Lock()
        self._bytes: int | None = None  # counted size, kept current by save and remove
        self._counted_at = 0.0

    # ---------------------------------------------------------------- one thumbnail

    def path(self, hash_: str) -> Path:
        return self.folder / hash_[:2] / f"{hash_}.jpg"

    def exists(self, hash_: str) -> bool:
        return self.path(hash_).is_file()

    def frame_path(self, hash_: str, t: float) -> Path:
        """The thumbnail of a video's sampled frame at ``t`` seconds (to the millisecond, as
        ``Catalog.frame_times`` gives them)."""
        return self.folder / hash_[:2] / f"{hash_}-t{frame_ms(t)}.jpg"

    def save_frame(self, hash_: str, t: float, image: Image.Image) -> Path:
        """Write a video frame's thumbnail, as ``save``."""
        from clipdesk.core import decode

        path = self.frame_path(hash_, t)
        decode.save_thumbnail(image, path)
        try:
            self._counted(path.stat().st_size)
        except OSError:
            pass
        return path

    def save(self, hash_: str, image: Image.Image) -> Path:
        """Write the thumbnail of ``image`` atomically (temp file, then rename). Raises OSError
        (disk full, read-only library); the photo is fine without it."""
        from clipdesk.core import decode

        path = self.path(hash_)
        decode.save_thumbnail(image, path)
        try:
            self._counted(path.stat().st_size)
        except OSError:  # already trimmed by another thread: nothing to count
            pass
        return path

    # ---------------------------------------------------------------- the whole store

    def size(self) -> int:
        """Bytes the thumbnails take. Counted afresh at most every RECOUNT_S (the app's status
        bar asks every few seconds while indexing; 100,000 thumbnails take ~0.4 s to count)."""
        with self._lock:
            if self._bytes is not None and time.monotonic() - self._counted_at < RECOUNT_S:
                return self._bytes
        return self._recount(self._scan()[0])

    def remove_orphans(self, keep_hashes: set[str]) -> int:
        """Delete the thumbnails whose hash is not in ``keep_hashes`` (the hashes some photo in
        the catalog has), and temp files that killed writers left. Returns how many
        thumbnails went."""
        return self._remove_orphans(*self._scan(), keep_hashes)[0]

    def trim(self, limit_bytes: int | None = None) -> int:
        """Over ``limit_bytes`` (the store's limit when None): delete the least recently used
        thumbnails until under it. "Used" is the later of the file's access and write times,
        as precise as the file system keeps them (Linux's relatime: within a day). Returns how
        many went."""
        return self._trim(self._scan()[0], limit_bytes)

    def tidy(self, keep_hashes: set[str]) -> tuple[int, int]:
        """``remove_orphans`` then ``trim``, in one pass over the folder; returns how many
        thumbnails each deleted."""
        removed, kept = self._remove_orphans(*self._scan(), keep_hashes)
        return removed, self._trim(kept, None)

    # ---------------------------------------------------------------- inside

    def _remove_orphans(self, entries: list[_Entry], stale_temps: list[str],
                        keep_hashes: set[str]) -> tuple[int, list[_Entry]]:
        kept = [e for e in entries if e.hash in keep_hashes]
        removed = self._delete([e.path for e in entries if e.hash not in keep_hashes])
        self._delete(stale_temps)
        self._recount(kept)
        if removed:
            log.info("removed %d thumbnails of photos no longer in the library", removed)
        return removed, kept

    def _trim(self, entries: list[_Entry], limit_bytes: int | None) -> int:
        limit = self.limit_bytes if limit_bytes is None else limit_bytes
        total = sum(e.size for e in entries)
        removed = 0
        if total > limit:
            entries.sort(key=lambda e: e.used)
            cut = 0
            while cut < len(entries) and total > limit:
                total -= entries[cut].size
                cut += 1
            removed = self._delete([e.path for e in entries[:cut]])
            entries = entries[cut:]
            log.info("trimmed %d thumbnails: the store was over its %d MiB limit",
                     removed, limit // 2**20)
        self._recount(entries)
        return removed

    def _scan(self) -> tuple[list[_Entry], list[str]]:
        """Every thumbnail file now, and the temp files old enough that no write can still be
        in flight (a killed writer's); what vanishes while we look is skipped. Files not named
        like a thumbnail are not ours: never listed, never deleted."""
        entries, stale_temps = [], []
        now = time.time()
        for shard in _scandir(self.folder):
            if len(shard.name) != 2 or not _is_dir(shard):
                continue
            for item in _scandir(shard.path):
                temp = item.name.endswith(".tmp")
                name = _NAME.fullmatch(item.name)
                if not temp and not (name and item.name.startswith(shard.name)):
                    continue
                try:
                    st = item.stat(follow_symlinks=False)
                except OSError:  # deleted under us
                    continue
                if not temp:
                    entries.append(_Entry(name.group(1), item.path, st.st_size,
                                          max(st.st_atime, st.st_mtime)))
                elif now - st.st_mtime > STALE_TEMP_S:
                    stale_temps.append(item.path)
        return entries, stale_temps

    def _delete(self, paths: list[str]) -> int:
        """Delete files; returns how many this call deleted. A file gone already is skipped;
        one that cannot go (a read-only library) is kept and the first reason logged."""
        deleted, failed, reason = 0, 0, None
        for path in paths:
            try:
                os.unlink(path)
                deleted += 1
            except FileNotFoundError:
                pass
            except OSError as exc:
                failed += 1
                reason = reason or exc
        if failed:
            log.warning("could not delete %d thumbnails in %s: %s", failed, self.folder, reason)
        return deleted

    def _counted(self, delta: int) -> None:
        with self._lock:
            if self._bytes is not None:
                self._bytes = max(0, self._bytes + delta)

    def _recount(self, entries: list[_Entry]) -> int:
        total = sum(e.size for e in entries)
        with self._lock:
            self._bytes, self._counted_at = total, time.monotonic()
        return total


def frame_ms(t: float) -> int:
    """A frame's time as whole milliseconds: how its thumbnail is named."""
    return max(0, int(round(float(t) * 1000)))


def _scandir(folder: str | os.PathLike) -> list[os.DirEntry]:
    """A folder's entries, or none when it is missing or unreadable (no thumbnails yet)."""
    try:
        with os.scandir(folder) as it:
            return list(it)
    except OSError:
        return []


def _is_dir(entry: os.DirEntry) -> bool:
    try:
        return entry.is_dir(follow_symlinks=False)
    except OSError:
        return False
