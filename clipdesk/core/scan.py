"""Which files are photos, and walking the photo folders to find them (read-only)."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from clipdesk.core.decode import HEIF_AVAILABLE, RAW_AVAILABLE, RAW_SUFFIXES
from clipdesk.core.video import VIDEO_SUFFIXES

log = logging.getLogger(__name__)

PHOTO_SUFFIXES = {".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff"}
HEIF_SUFFIXES = {".heic", ".heif", ".avif"}
LITTER = {"thumbs.db", "desktop.ini", "ehthumbs.db"}
PARTIAL_SUFFIXES = {".part", ".crdownload", ".download", ".tmp", ".partial"}


def has_photo_suffix(name: str) -> bool:
    """A suffix ClipDesk can decode: HEIC, HEIF and AVIF only when a HEIF reader imports
    (pi-heif, a base dependency), RAW formats (``decode.RAW_SUFFIXES``) only when rawpy
    imports; videos (``VIDEO_SUFFIXES``)."""
    suffix = os.path.splitext(name)[1].lower()
    return (suffix in PHOTO_SUFFIXES or (HEIF_AVAILABLE and suffix in HEIF_SUFFIXES)
            or (RAW_AVAILABLE and suffix in RAW_SUFFIXES) or suffix in VIDEO_SUFFIXES)


def media_kind(path: str) -> str:
    """What kind of media a file is, for ``Filters.media``: "raw" for a RAW suffix, "video"
    for a video's, else "photo". Told by the name, as decoding is."""
    suffix = os.path.splitext(path)[1].lower()
    if suffix in RAW_SUFFIXES:
        return "raw"
    return "video" if suffix in VIDEO_SUFFIXES else "photo"


def is_photo_name(name: str) -> bool:
    """A file name ClipDesk indexes: a known image suffix, not hidden, not system litter."""
    if name.startswith((".", "~$")) or name.lower() in LITTER:
        return False
    return has_photo_suffix(name)


def storable(path: str) -> bool:
    """Whether the catalog can hold this path: names that are not valid UTF-8 (old Latin-1
    archives on Linux) arrive with surrogate escapes, which SQLite text cannot store."""
    try:
        path.encode("utf-8")
        return True
    except UnicodeEncodeError:
        return False


def shown(path: str) -> str:
    """A path fit to print or log, whatever bytes its name holds."""
    return path.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


UNSTORABLE = "its name is not valid UTF-8, which ClipDesk cannot store; rename it to include it"


@dataclass(frozen=True)
class FoundFile:
    path: str
    size: int
    mtime_ns: int


def walk(root: Path, errors: list[str] | None = None,
         unreadable: list[str] | None = None) -> Iterator[FoundFile]:
    """Every photo under ``root``: follows folder symlinks once (loops are cut), skips hidden
    folders; unreadable folders are noted in ``errors`` (a message) and ``unreadable`` (the
    path), and skipped: what they hold is unknown, not gone."""
    seen: set[tuple[int, int]] = set()
    stack = [str(root)]
    while stack:
        folder = stack.pop()
        try:
            st = os.stat(folder)
            if (st.st_dev, st.st_ino) in seen:
                continue
            seen.add((st.st_dev, st.st_ino))
            entries = list(os.scandir(folder))
        except OSError as exc:
            _unreadable(folder, exc, errors, unreadable)
            continue
        for entry in entries:
            try:
                if entry.is_dir():
                    if not entry.name.startswith("."):
                        stack.append(entry.path)
                elif entry.is_file() and is_photo_name(entry.name):
                    st = entry.stat()
                    yield FoundFile(entry.path, st.st_size, st.st_mtime_ns)
            except PermissionError as exc:
                # listed but not searchable (a folder left at rw- by chmod -R 644): what it
                # holds is unknown, not gone; reported once, and its photos are kept
                _unreadable(folder, exc, errors, unreadable)
                break
            except OSError:  # vanished or a dangling link: nothing to index
                continue


def _unreadable(folder: str, exc: OSError, errors: list[str] | None,
                unreadable: list[str] | None) -> None:
    msg = (f"cannot read folder {shown(folder)}: {exc.strerror or exc} "
           f"(its photos stay in the library)")
    log.warning(msg)
    if errors is not None:
        errors.append(msg)
    if unreadable is not None:
        unreadable.append(folder)
