"""Bringing the library up to date with its folders.

Scan each root against the catalog (size and mtime), then read every new or changed photo
once in worker threads, ahead of the model: hash the bytes; if that content already has an
embedding (a rename, a move, a copy, a touched file) reuse it, else decode, write the
thumbnail and preprocess. The calling thread runs the model in batches and is the one
writer: each batch is committed to the catalog, then applied to the vector index.
A killed run loses at most the batch in flight; the next run resumes.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from clipdesk.core import decode
from clipdesk.core.catalog import ModelRow, to_blob
from clipdesk.core.errors import ClipDeskError
from clipdesk.core.library import Library
from clipdesk.core.models import Encoder
from clipdesk.core.scan import walk

log = logging.getLogger(__name__)

SAVE_EVERY_S = 60.0


@dataclass
class IndexReport:
    total: int = 0  # photos found in the scanned folders
    todo: int = 0  # of those, needing work this run
    embedded: int = 0  # run through CLIP
    reused: int = 0  # recognised by content: no CLIP run
    removed: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)
    folder_errors: list[str] = field(default_factory=list)
    interrupted: bool = False
    seconds: float = 0.0

    def summary(self) -> str:
        head = "Stopped early" if self.interrupted else "Done"
        rate = self.embedded / self.seconds if self.seconds > 0 else 0.0
        return (
            f"{head}: {self.total} photos in the scanned folders; {self.embedded} embedded "
            f"({rate:.1f}/s), {self.reused} recognised by content, {len(self.failed)} failed, "
            f"{self.removed} removed."
        )


@dataclass
class _Prepared:
    """What a worker learned about one file (plain data, no shared state)."""

    file_id: int
    path: str
    size: int = 0
    mtime_ns: int = 0
    photo: decode.Photo | None = None
    tensor: object | None = None  # preprocessed image, when the model must run
    vector: np.ndarray | None = None  # stored embedding, when the content is known
    error: str | None = None
    vanished: bool = False


class Indexer:
    """Indexes library roots with one encoder. Call ``stop()`` from any thread to end early."""

    def __init__(
        self,
        library: Library,
        encoder: Encoder,
        workers: int | None = None,
        batch_size: int = 32,
        on_progress: Callable[[int, int], None] | None = None,
    ):
        self.library = library
        self.catalog = library.catalog
        self.encoder = encoder
        self.workers = workers or max(1, min(4, os.cpu_count() or 1))
        self.batch_size = batch_size
        self.on_progress = on_progress
        self._stop = threading.Event()
        self.model: ModelRow = library.model_row(encoder.spec, encoder.dim)
        if self.model.dim != encoder.dim:
            raise ClipDeskError(f"model {encoder.spec.text} changed shape; remove its index to rebuild")
        self.index = library.vectors(self.model, persist=True)
        self._min_side = max(encoder.image_size, decode.THUMB_SIZE * 3 // 4)

    def stop(self) -> None:
        self._stop.set()

    # ------------------------------------------------------------------ public

    def run(self, folders: list[Path] | None = None) -> IndexReport:
        """Add ``folders`` as roots (all roots when None) and bring them up to date."""
        start = time.monotonic()
        report = IndexReport()
        if folders:
            for folder in folders:
                if not folder.is_dir():
                    raise ClipDeskError(f"not a folder: {folder}")
            root_ids = {self.catalog.add_root(f.resolve()) for f in folders}
            roots = [(rid, p) for rid, p in self.catalog.roots() if rid in root_ids]
        else:
            roots = self.catalog.roots()
        self.catalog.set_meta("model", self.encoder.spec.text)

        todo: list[tuple[int, str]] = []
        for rid, root in roots:
            if not root.is_dir():
                report.folder_errors.append(f"folder not found (skipped, photos kept): {root}")
                continue
            todo += self._sync_root(rid, root, report)
        report.todo = len(todo)
        try:
            self._process(todo, report)
        finally:
            self.library.save_vectors(self.model, self.index)
            report.seconds = time.monotonic() - start
        if not report.interrupted:
            self.catalog.drop_orphan_embeddings(self.model)
        return report

    # ------------------------------------------------------------------ scan

    def _sync_root(self, root_id: int, root: Path, report: IndexReport) -> list[tuple[int, str]]:
        """Record new, changed and vanished files; return (id, path) of files needing work."""
        found = {f.path: f for f in walk(root, report.folder_errors)}
        known = self.catalog.files_in_root(root_id)
        report.total += len(found)
        now = time.time()
        gone = [row.id for path, row in known.items() if path not in found]
        with self.catalog.write() as db:
            for path, f in found.items():
                row = known.get(path)
                if row is None:
                    db.execute(
                        "INSERT INTO files (root_id, path, size, mtime_ns, status, updated_at) "
                        "VALUES (?, ?, ?, ?, 'pending', ?)",
                        (root_id, path, f.size, f.mtime_ns, now),
                    )
                elif (row.size, row.mtime_ns) != (f.size, f.mtime_ns):
                    db.execute(
                        "UPDATE files SET size = ?, mtime_ns = ?, status = 'pending', reason = NULL, "
                        "updated_at = ? WHERE id = ?",
                        (f.size, f.mtime_ns, now, row.id),
                    )
            db.executemany("DELETE FROM files WHERE id = ?", [(i,) for i in gone])
        self.index.remove(gone)
        report.removed += len(gone)
        rows = self.catalog.db.execute(
            "SELECT f.id, f.path FROM files f LEFT JOIN embeddings e "
            "ON e.model_id = ? AND e.hash = f.hash "
            "WHERE f.root_id = ? AND f.status != 'failed' AND (f.status = 'pending' OR e.hash IS NULL) "
            "ORDER BY f.path",
            (self.model.id, root_id),
        ).fetchall()
        return [(r[0], r[1]) for r in rows]

    # ------------------------------------------------------------------ work

    def _prepare(self, file_id: int, path: str) -> _Prepared:
        """Runs in a worker thread: read once, reuse a known embedding or decode for the model."""
        out = _Prepared(file_id, path)
        try:
            st = os.stat(path)
            out.size, out.mtime_ns = st.st_size, st.st_mtime_ns
            data = decode.read_bytes(path)
            hash_ = decode.content_hash(data)
            out.vector = self.catalog.embedding(self.model, hash_)
            thumb = self.library.thumbnail_path(hash_)
            need_pixels = out.vector is None or not thumb.exists()
            out.photo = decode.decode(data, self._min_side if need_pixels else None)
            if out.photo.image is not None:
                if not thumb.exists():
                    decode.save_thumbnail(out.photo.image, thumb)
                if out.vector is None:
                    out.tensor = self.encoder.preprocess(out.photo.image)
                out.photo.image = None  # the tensor is all the model needs; free the pixels
        except FileNotFoundError:
            out.vanished = True
        except decode.DecodeError as exc:
            out.error = str(exc)
        except Exception as exc:  # one bad photo must never stop the run
            log.exception("unexpected error reading %s", path)
            out.error = f"unexpected error: {type(exc).__name__}: {exc}"
        return out

    def _process(self, todo: list[tuple[int, str]], report: IndexReport) -> None:
        import torch

        bar = None
        if self.on_progress is None and todo:
            from tqdm import tqdm

            bar = tqdm(total=len(todo), unit="photo", desc="Indexing", dynamic_ncols=True)
        to_embed: list[_Prepared] = []
        to_write: list[_Prepared] = []
        done = 0
        last_save = time.monotonic()
        pool = ThreadPoolExecutor(self.workers, thread_name_prefix="clipdesk-decode")
        window: deque[Future] = deque()
        jobs = iter(todo)
        try:
            for job in jobs:
                window.append(pool.submit(self._prepare, *job))
                if len(window) >= self.batch_size * 2:
                    break
            while window and not self._stop.is_set():
                res = window.popleft().result()
                nxt = next(jobs, None)
                if nxt is not None:
                    window.append(pool.submit(self._prepare, *nxt))
                (to_embed if res.tensor is not None else to_write).append(res)
                if len(to_embed) >= self.batch_size or (not window and (to_embed or to_write)):
                    batch = torch.stack([r.tensor for r in to_embed]) if to_embed else None
                    self._commit(to_embed, to_write, report, batch)
                    n = len(to_embed) + len(to_write)
                    to_embed, to_write = [], []
                    done += n
                    if bar is not None:
                        bar.update(n)
                    if self.on_progress is not None:
                        self.on_progress(done, len(todo))
                    if time.monotonic() - last_save > SAVE_EVERY_S:
                        self.library.save_vectors(self.model, self.index)
                        last_save = time.monotonic()
            if self._stop.is_set():
                report.interrupted = True
        except KeyboardInterrupt:
            report.interrupted = True
        finally:
            for fut in window:
                fut.cancel()
            pool.shutdown(wait=True, cancel_futures=True)
            if report.interrupted and to_write:  # finished reads cost nothing to keep
                self._commit([], to_write, report, None)
            if bar is not None:
                bar.close()

    def _commit(self, to_embed: list[_Prepared], to_write: list[_Prepared],
                report: IndexReport, batch) -> None:
        """Embed a batch, then write it in one transaction, then update the vector index."""
        if batch is not None:
            vectors = self.encoder.encode_images(batch).astype(np.float16)
            for res, vec in zip(to_embed, vectors, strict=True):
                res.vector, res.tensor = vec, None
        now = time.time()
        add_keys, add_vecs, drop = [], [], []
        with self.catalog.write() as db:
            for res, fresh in [(r, True) for r in to_embed] + [(r, False) for r in to_write]:
                if res.vanished:
                    db.execute("DELETE FROM files WHERE id = ?", (res.file_id,))
                    drop.append(res.file_id)
                    report.removed += 1
                elif res.error is not None:
                    db.execute(
                        "UPDATE files SET status = 'failed', reason = ?, size = ?, mtime_ns = ?, "
                        "hash = NULL, updated_at = ? WHERE id = ?",
                        (res.error, res.size, res.mtime_ns, now, res.file_id),
                    )
                    drop.append(res.file_id)
                    report.failed.append((res.path, res.error))
                else:
                    p = res.photo
                    db.execute(
                        "UPDATE files SET status = 'ok', reason = NULL, size = ?, mtime_ns = ?, "
                        "hash = ?, taken_at = ?, width = ?, height = ?, updated_at = ? WHERE id = ?",
                        (res.size, res.mtime_ns, p.hash, p.taken_at, p.width, p.height, now,
                         res.file_id),
                    )
                    if fresh:
                        db.execute(
                            "INSERT OR IGNORE INTO embeddings VALUES (?, ?, ?)",
                            (self.model.id, p.hash, to_blob(res.vector)),
                        )
                        report.embedded += 1
                    else:
                        report.reused += 1
                    add_keys.append(res.file_id)
                    add_vecs.append(res.vector)
        self.index.remove(drop)
        if add_keys:
            self.index.add(np.array(add_keys, dtype=np.uint64), np.stack(add_vecs).astype(np.float32))
