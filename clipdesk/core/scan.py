"""Which files are photos, and walking the photo folders to find them (read-only)."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from clipdesk.core.decode import HEIF_AVAILABLE

log = logging.getLogger(__name__)

PHOTO_SUFFIXES = {".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff"}
HEIF_SUFFIXES = {".heic", ".heif", ".avif"}
LITTER = {"thumbs.db", "desktop.ini", "ehthumbs.db"}
PARTIAL_SUFFIXES = {".part", ".crdownload", ".download", ".tmp", ".partial"}

def is_photo_name(name: str) -> bool:
    """A file name ClipDesk indexes: a known image suffix, not hidden, not system litter."""
    if name.startswith((".", "~$")) or name.lower() in LITTER:
        return False
    suffix = os.path.splitext(name)[1].lower()
    return suffix in PHOTO_SUFFIXES or (HEIF_AVAILABLE and suffix in HEIF_SUFFIXES)


@dataclass(frozen=True)
class FoundFile:
    path: str
    size: int
    mtime_ns: int


def walk(root: Path, errors: list[str] | None = None) -> Iterator[FoundFile]:
    """Every photo under ``root``: follows folder symlinks once (loops are cut), skips hidden
    folders; unreadable folders are noted in ``errors`` and skipped."""
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
            msg = f"cannot read folder {folder}: {exc.strerror or exc}"
            log.warning(msg)
            if errors is not None:
                errors.append(msg)
            continue
        for entry in entries:
            try:
                if entry.is_dir():
                    if not entry.name.startswith("."):
                        stack.append(entry.path)
                elif entry.is_file() and is_photo_name(entry.name):
                    st = entry.stat()
                    yield FoundFile(entry.path, st.st_size, st.st_mtime_ns)
            except OSError:  # vanished or a dangling link: nothing to index
                continue
