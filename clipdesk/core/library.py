"""A library folder opened for use: the catalog, the per-model vector indexes, thumbnails."""

from __future__ import annotations

import logging
from pathlib import Path

from clipdesk.core.catalog import CATALOG_NAME, Catalog, ModelRow
from clipdesk.core.errors import LibraryError
from clipdesk.core.models import ModelSpec
from clipdesk.core.thumbnails import DEFAULT_LIMIT_BYTES, ThumbnailStore
from clipdesk.core.vectors import VectorIndex, index_path, open_index
from clipdesk.core.writerlock import WriterLock

log = logging.getLogger(__name__)


class Library:
    """One library folder. Any number of readers; one writer (the indexer), which must hold
    the library's writer lock (``claim_writer``) - across processes, too."""

    def __init__(self, folder: Path, role: str = "ClipDesk",
                 thumbnail_limit: int = DEFAULT_LIMIT_BYTES):
        self.folder = Path(folder)
        if self.folder.exists() and not self.folder.is_dir():
            raise LibraryError(f"the library path {self.folder} is a file, not a folder")
        self.catalog = Catalog(self.folder)
        self.thumbnails = ThumbnailStore(self.folder, thumbnail_limit)
        self._indexes: dict[str, VectorIndex] = {}
        self._writer = WriterLock(self.folder, role)

    def claim_writer(self) -> None:
        """Become the library's writer, or raise LibraryBusy naming the process that is."""
        self._writer.acquire()

    @property
    def is_writer(self) -> bool:
        return self._writer.held

    @staticmethod
    def exists(folder: Path) -> bool:
        return (Path(folder) / CATALOG_NAME).is_file()

    def thumbnail_path(self, hash_: str) -> Path:
        return self.thumbnails.path(hash_)

    def frame_thumbnail_path(self, hash_: str, t: float) -> Path:
        """The thumbnail of a video's sampled frame at ``t`` seconds (``Hit.time``,
        ``Catalog.frame_times``); may be missing, as any thumbnail."""
        return self.thumbnails.frame_path(hash_, t)

    def tidy_thumbnails(self) -> tuple[int, int]:
        """Delete the thumbnails no photo in the catalog uses, then trim the store to its size
        limit; returns (orphans removed, trimmed). Only the writer does this: a thumbnail the
        indexer has just written belongs to a photo the catalog learns of a moment later, so a
        reader could take it for an orphan. Call when a run has finished uninterrupted and when
        the library is opened for writing."""
        if not self.is_writer:
            return 0, 0
        return self.thumbnails.tidy(self.catalog.hashes_in_use())

    @property
    def model_spec(self) -> str | None:
        return self.catalog.get_meta("model")

    def model_row(self, spec: ModelSpec, dim: int | None = None) -> ModelRow | None:
        return self.catalog.model(spec.identity, dim)

    def vectors(self, model: ModelRow, persist: bool = False) -> VectorIndex:
        """The model's vector index; healed from the catalog if the file is not trustworthy.
        ``persist`` saves a healed index back to disk, when this process is the writer."""
        index = self._indexes.get(model.spec)
        if index is None:
            path = index_path(self.folder, ModelSpec.parse(model.spec).slug)
            index, rebuilt = open_index(self.catalog, model, path)
            if rebuilt and persist and self.is_writer:
                self.save_vectors(model, index)
            self._indexes[model.spec] = index
        return index

    def save_vectors(self, model: ModelRow, index: VectorIndex | None = None) -> None:
        """Save atomically and record what the file reflects; a failed save keeps the old file."""
        index = index or self._indexes.get(model.spec)
        if index is None:
            return
        self.claim_writer()
        version = self.catalog.version
        path = index_path(self.folder, ModelSpec.parse(model.spec).slug)
        try:
            size, mtime_ns = index.save(path)
        except (OSError, RuntimeError) as exc:  # usearch reports a failed write as RuntimeError
            log.error("could not save the vector index %s: %s", path, exc)
            why = getattr(exc, "strerror", None) or exc
            raise LibraryError(f"could not save the vector index {path}: {why}. The previous "
                               f"index is kept; it is brought up to date when saving works "
                               f"again.") from exc
        self.catalog.record_index_saved(model, version, size, mtime_ns)

    def size_on_disk(self) -> dict[str, int]:
        """Bytes per part of the library, as ``clipdesk status`` and the app's status bar show."""
        def total(paths) -> int:
            return sum(p.stat().st_size for p in paths if p.is_file())

        return {
            "catalog": total(self.folder.glob(CATALOG_NAME + "*")),
            "index": total((self.folder / "index").glob("*.usearch")),
            "thumbnails": self.thumbnails.size(),
        }

    def close(self) -> None:
        self.catalog.close()
        self._writer.release()
