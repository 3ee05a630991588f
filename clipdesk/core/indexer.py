"""Bringing the library up to date with its folders.

Scan each root against the catalog (size and mtime), then read every new or changed photo
once in worker threads, ahead of the model: hash the bytes; if that content already has an
embedding (a rename, a move, a copy, a touched file) reuse it, else decode, write the
thumbnail and preprocess. The calling thread runs the model in batches. Every write goes
through one writer (``_Writes``): each batch is committed to the catalog in one transaction,
then applied to the vector index, on the indexer's commit thread while the model embeds the
next batch (issue 15: a batch of 128 into a 200,000-vector index takes 250-300 ms on 2
cores, longer than a GPU's model at 800 img/s; with a model as slow as the writes the run is
1.25x faster, benchmarks/commit_overlap.py). One batch at most is in flight and the writes
stay in order; a failed write is raised on the calling thread, and a run (stopped,
interrupted or done) ends, or saves its index, only once the write in flight is done. A
killed run loses at most the batches in flight; the next run resumes.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from clipdesk.core import decode, gpudecode, video
from clipdesk.core.catalog import Catalog, ModelRow, Outcome, frame_key, removal_keys
from clipdesk.core.errors import ClipDeskError
from clipdesk.core.library import Library
from clipdesk.core.models import Encoder
from clipdesk.core.scan import UNSTORABLE, FoundFile, is_photo_name, shown, storable, walk

log = logging.getLogger(__name__)

SAVE_EVERY_S = 60.0
TIME_LIMIT_S = 60.0  # per photo (read + decode); one that takes longer is skipped as failed
# a video in the decode window counts as this many photos: its frames wait there as the
# model's input (64 frames of ViT-B-32: 38 MB), so few may be ahead of the model at once
VIDEO_WEIGHT = 8


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
class _Scan:
    """What a scan of one folder saw (nothing written yet)."""

    root_id: int
    path: Path
    found: dict[str, FoundFile]
    hidden: tuple[str, ...]  # folders that could not be read: their photos are kept
    needs_model: bool


@dataclass
class _Prepared:
    """What a worker learned about one file (plain data, no shared state)."""

    file_id: int
    path: str
    size: int = 0
    mtime_ns: int = 0
    photo: decode.Photo | None = None
    tensor: np.ndarray | None = None  # preprocessed image, when the model must run
    vector: np.ndarray | None = None  # stored embedding, when the content is known
    pending: gpudecode.Pending | None = None  # a JPEG whose pixels the device decodes
    error: str | None = None
    vanished: bool = False
    # a video (``photo`` holds its size and date): its frames' times, and their model input
    # (N, 3, S, S) when the model must run, else their stored vectors
    duration: float | None = None
    frame_times: list[float] | None = None
    frames_tensor: np.ndarray | None = None
    frame_vectors: np.ndarray | None = None
    frames_fresh: bool = False  # the frame vectors were just embedded


class _Writes:
    """The indexer's writes, one batch at a time and in order, on a thread of its own while
    the model embeds the next batch. ``hand`` first waits for the batch before, so one at most
    is in flight. What a write raised, and the progress of a written batch, come back on the
    indexer's thread, in ``poll``, ``wait`` or ``close``. With ``overlap`` False (or for a
    run's last batch, which nothing follows) the batch is written on the indexer's thread."""

    def __init__(self, write: Callable[..., None], written: Callable[[int], None],
                 catalog: Catalog, overlap: bool):
        self._write = write  # writes one batch; runs on the commit thread
        self._written = written  # told each written batch's size, on the indexer's thread
        self._catalog = catalog
        self._overlap = overlap
        self._pool: ThreadPoolExecutor | None = None  # made for the first batch it writes
        self._in_flight: tuple[Future, int] | None = None
        self.waited = 0.0  # seconds the indexer's thread spent on writes: waiting, or writing

    def hand(self, n: int, last: bool, *args) -> None:
        """Write a batch of ``n`` files (``write(*args)``), after the batch before."""
        self.wait()
        if not self._overlap or last:
            start = time.monotonic()
            try:
                self._write(*args)
            finally:
                self.waited += time.monotonic() - start
            self._written(n)
            return
        if self._pool is None:
            self._pool = ThreadPoolExecutor(1, thread_name_prefix="clipdesk-commit")
        self._in_flight = (self._pool.submit(self._write, *args), n)

    def poll(self) -> None:
        """Take the batch in flight's outcome if it is written, without waiting."""
        if self._in_flight is not None and self._in_flight[0].done():
            self.wait()

    def wait(self) -> None:
        """Until the batch in flight is written; raises what its write raised."""
        if self._in_flight is None:
            return
        future, n = self._in_flight
        start = time.monotonic()
        try:
            future.exception()  # a Ctrl-C here leaves it in flight, for ``close``
        finally:
            self.waited += time.monotonic() - start
        self._in_flight = None
        future.result()  # the write's own error, as it would have been raised here
        self._written(n)

    def close(self) -> None:
        """Wait for the batch in flight, through a second Ctrl-C too (the thread cannot be
        stopped half-way, and the run must not end while it writes), then end the thread."""
        try:
            while self._in_flight is not None:
                try:
                    self.wait()
                except KeyboardInterrupt:
                    continue
        finally:
            if self._pool is not None:
                self._pool.submit(self._catalog.close)  # the thread's own SQLite connection
                self._pool.shutdown(wait=True)
                self._pool = None


class Indexer:
    """Indexes library roots with one encoder. Call ``stop()`` from any thread to end early."""

    def __init__(
        self,
        library: Library,
        encoder: Encoder,
        workers: int | None = None,
        batch_size: int | None = None,
        on_progress: Callable[[int, int], None] | None = None,
        time_limit: float = TIME_LIMIT_S,
        device_decode: bool | None = None,
        overlap_writes: bool = True,
    ):
        library.claim_writer()  # LibraryBusy when another process is updating this library
        self.library = library
        self.catalog = library.catalog
        self.encoder = encoder
        self.workers = workers or max(1, os.cpu_count() or 1)  # every core: on a GPU they feed it
        self.batch_size = batch_size or gpudecode.batch_size_for(encoder)
        self.on_progress = on_progress
        self.time_limit = time_limit
        self._started: dict[int, float] = {}  # file id -> when a worker began reading it
        self._abandoned = 0  # workers still busy with a photo that ran out of time
        # thumbnails of device-decoded photos, written by the pool: (future, hash, image)
        self._thumbnail_saves: list[tuple[Future, str, object]] = []
        self._stop = threading.Event()
        self.model: ModelRow = library.model_row(encoder.spec, encoder.dim)
        if self.model.dim != encoder.dim:
            raise ClipDeskError(f"model {encoder.spec.text} changed shape; remove its index to rebuild")
        self.index = library.vectors(self.model, persist=True)
        self._min_side = max(encoder.image_size, decode.THUMB_SIZE * 3 // 4)
        self._preprocess = encoder.preprocess  # PIL + numpy: the model's own transform
        # JPEGs decoded in batches on the model's device (CUDA by default; see gpudecode)
        self._device_jpeg = gpudecode.for_indexer(encoder, self._min_side, self.workers,
                                                  device_decode)
        self._last_save = time.monotonic()
        # batch N written on the commit thread while the model embeds batch N + 1; False
        # writes each batch before the next is embedded (the serial path, for comparisons)
        self.overlap_writes = overlap_writes
        self.write_wait_s = 0.0  # the last run's time on writes on this thread (benchmarks)

    def stop(self) -> None:
        self._stop.set()

    # ------------------------------------------------------------------ public

    def run(self, folders: list[Path] | None = None) -> IndexReport:
        """Add ``folders`` as roots (all roots when None) and bring them up to date."""
        if folders:
            for folder in folders:
                if not folder.is_dir():
                    raise ClipDeskError(f"not a folder: {folder}")
            for folder in folders:
                self.catalog.add_root(folder.resolve())
            roots = dict(self.catalog.roots())
            targets = []
            for folder in (f.resolve() for f in folders):  # a folder inside a root: just it
                rid = next(r for r, p in roots.items() if folder == p or folder.is_relative_to(p))
                targets.append((rid, roots[rid], folder))
        else:
            targets = [(rid, root, root) for rid, root in self.catalog.roots()]
        report = self._update(targets)
        self.library.save_vectors(self.model, self.index)
        if not report.interrupted:
            self.catalog.drop_orphan_embeddings(self.model)
            self.library.tidy_thumbnails()  # deleted and changed photos' thumbnails go
        return report

    def sync_paths(self, paths) -> IndexReport:
        """Bring the given files or folders (changed on disk) up to date: what exists is
        indexed, what is gone is removed. Paths outside the roots are ignored; so are changes
        under a root that is itself missing (an unplugged drive keeps its photos)."""
        roots = self.catalog.roots()
        targets = []
        for path in sorted({str(p) for p in paths}):
            for rid, root in roots:
                if Path(path) == root or Path(path).is_relative_to(root):
                    targets.append((rid, root, Path(path)))
                    break
        report = self._update(targets)
        if time.monotonic() - self._last_save > SAVE_EVERY_S:
            self.save()
        return report

    def save(self) -> None:
        """Persist the vector index (the catalog is always up to date)."""
        self.library.save_vectors(self.model, self.index)
        self._last_save = time.monotonic()

    def remove_root(self, folder: Path) -> int:
        """Stop following a folder: forget its photos (the photos themselves are untouched)."""
        videos = self.catalog.root_video_ids(folder)
        ids = self.catalog.remove_root(Path(folder))
        self.index.remove(self._keys(ids, videos))
        self.save()
        return len(ids)

    def retry_failed(self) -> IndexReport:
        """Try every failed photo again (after the user fixed something)."""
        return self.sync_paths(self.catalog.retry_failed())

    def _update(self, targets: list[tuple[int, Path, Path]]) -> IndexReport:
        start = time.monotonic()
        report = IndexReport()
        self._stop.clear()
        self.catalog.set_meta("model", self.encoder.spec.text)
        scans = []
        for rid, root, path in targets:
            if not root.is_dir():
                report.folder_errors.append(f"folder not found (skipped, photos kept): {root}")
                continue
            scans.append(self._scan_tree(rid, root, path, report))
        if any(scan.needs_model for scan in scans):
            self._load_model()
        todo: dict[int, str] = {}
        for scan in scans:
            todo.update(self._record(scan, report))
        report.todo = len(todo)
        try:
            self._process(sorted(todo.items(), key=lambda kv: kv[1]), report)
        finally:
            report.seconds = time.monotonic() - start
        return report

    # ------------------------------------------------------------------ scan

    def _scan_tree(self, root_id: int, root: Path, path: Path, report: IndexReport) -> _Scan:
        """Look at the files at or under ``path`` (inside ``root``), writing nothing: what is
        new, changed and gone, and whether any of it needs the model."""
        unreadable: list[str] = []
        if path.is_dir():
            found = {f.path: f for f in walk(path, report.folder_errors, unreadable)}
        else:
            found = {}
            rel = path.relative_to(root).parts
            if path.is_file() and is_photo_name(path.name) and not any(
                    part.startswith(".") for part in rel[:-1]):
                try:
                    st = path.stat()
                    found[str(path)] = FoundFile(str(path), st.st_size, st.st_mtime_ns)
                except OSError:
                    pass
        for p in [p for p in found if not storable(p)]:
            del found[p]
            report.failed.append((shown(p), UNSTORABLE))
        known = self.catalog.files_under(root_id, str(path))
        report.total += len(found)
        # a folder that cannot be listed now (permissions, a flaky share) keeps its photos
        hidden = tuple(u.rstrip(os.sep) + os.sep for u in unreadable)
        new_or_changed = any(
            (row := known.get(p)) is None or (row.size, row.mtime_ns) != (f.size, f.mtime_ns)
            for p, f in found.items())
        needs_model = new_or_changed or bool(self.catalog.needing_work(self.model, root_id,
                                                                       str(path)))
        return _Scan(root_id, path, found, hidden, needs_model)

    def _record(self, scan: _Scan, report: IndexReport) -> dict[int, str]:
        """Write what a scan saw; return {id: path} of the files there that need work. The
        catalog is read again: an earlier target of the same run (a folder holding this
        file) may have recorded some of it already."""
        known = self.catalog.files_under(scan.root_id, str(scan.path))
        gone = [row.id for p, row in known.items()
                if p not in scan.found and not p.startswith(scan.hidden)]
        self.catalog.record_scan(scan.root_id, scan.found, known, gone)
        self.index.remove(self._keys(gone, {row.id for row in known.values() if row.is_video}))
        report.removed += len(gone)
        return self.catalog.needing_work(self.model, scan.root_id, str(scan.path))

    def _load_model(self) -> None:
        """Open the model's sessions (ONNX) before anything in the library changes: a broken
        model file fails here, with the library as it was. Only when there is work for the
        model: the app's catch-up run at start usually has none, and its first query then
        does not share the CPU with opening the image tower (benchmarks/startup.py)."""
        for load in ("load_image", "load_text"):
            if hasattr(self.encoder, load):
                getattr(self.encoder, load)()

    # ------------------------------------------------------------------ work

    def _prepare(self, file_id: int, path: str) -> _Prepared:
        """Runs in a worker thread: read once, reuse a known embedding or decode for the model."""
        out = _Prepared(file_id, path)
        self._started[file_id] = time.monotonic()
        try:
            st = os.stat(path)
            out.size, out.mtime_ns = st.st_size, st.st_mtime_ns
            if video.is_video_name(path):
                return self._prepare_video(out)
            data = decode.read_bytes(path)
            hash_ = decode.content_hash(data)
            out.vector = self.catalog.embedding(self.model, hash_)
            if (out.vector is None and self._device_jpeg is not None
                    and not decode.has_camera_preview(data, self._min_side)  # faster here
                    and self._device_jpeg.takes(data, path)):  # pixels: with the batch
                out.photo, orientation = gpudecode.header(data, hash_)
                out.pending = gpudecode.Pending(data, orientation,
                                                out.photo.width * out.photo.height)
                return out
            thumbnails = self.library.thumbnails
            need_pixels = out.vector is None or not thumbnails.exists(hash_)
            out.photo = decode.decode(data, self._min_side if need_pixels else None, hash_,
                                      name=path)  # the name tells a RAW
            if out.photo.image is not None:
                if not thumbnails.exists(hash_):
                    try:
                        thumbnails.save(hash_, out.photo.image)
                    except OSError as exc:  # disk full: the photo is fine, the app shows it anyway
                        log.warning("could not write the thumbnail %s: %s",
                                    thumbnails.path(hash_), exc)
                if out.vector is None:
                    out.tensor = self._preprocess(out.photo.image)
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
        bar = None
        if self.on_progress is None and todo:
            from tqdm import tqdm

            bar = tqdm(total=len(todo), unit="photo", desc="Indexing", dynamic_ncols=True)
        to_embed: list[_Prepared] = []
        to_write: list[_Prepared] = []
        done = 0

        def written(n: int) -> None:  # on this thread, batch after batch, once written
            nonlocal done
            done += n
            if bar is not None:
                bar.update(n)
            if self.on_progress is not None:
                self.on_progress(done, len(todo))

        writes = _Writes(self._write, written, self.catalog, self.overlap_writes)
        last_save = time.monotonic()
        pool = ThreadPoolExecutor(self.workers, thread_name_prefix="clipdesk-decode")
        self._thumbnail_saves = []
        window: deque[tuple[Future, tuple[int, str]]] = deque()  # (future, its job)
        jobs = iter(todo)
        try:
            self._fill(window, jobs, pool)
            while window and not self._stop.is_set():
                res = self._wait(*window.popleft())
                writes.poll()  # progress as soon as a batch is written; its error at once
                self._fill(window, jobs, pool)
                embed = res.tensor is not None or res.pending is not None
                (to_embed if embed else to_write).append(res)
                frames = sum(len(r.frame_times or ()) for r in to_write if r.frames_tensor is not None)
                if (len(to_embed) >= self.batch_size or frames >= self.batch_size
                        or (not window and (to_embed or to_write))):
                    batch = self._batch(to_embed, to_write, pool) if to_embed else None
                    self._embed(to_embed, to_write, batch)  # while the batch before is written
                    writes.wait()
                    if time.monotonic() - last_save > SAVE_EVERY_S:  # every written batch, only
                        self.library.save_vectors(self.model, self.index)
                        last_save = time.monotonic()
                    writes.hand(len(to_embed) + len(to_write), not window,
                                to_embed, to_write, report)
                    to_embed, to_write = [], []
            writes.wait()
            if self._stop.is_set():
                report.interrupted = True
        except KeyboardInterrupt:
            report.interrupted = True
        finally:
            for fut, _ in window:
                fut.cancel()
            try:
                writes.close()  # the batch in flight written (or failed) before anything else
            finally:
                self.write_wait_s = writes.waited
                for fut, hash_, image in self._thumbnail_saves:  # queued, not started: save here
                    if fut.cancel():  # (shutting the pool down would drop them)
                        self._save_thumbnail(hash_, image)
                self._thumbnail_saves = []
                # a worker stuck on a photo (a hung network share) must not hold up the rest
                pool.shutdown(wait=not self._abandoned, cancel_futures=True)
            if report.interrupted and to_write:  # finished reads cost nothing to keep
                self._commit([], to_write, report, None)
            if bar is not None:
                bar.close()

    def _batch(self, to_embed: list[_Prepared], to_write: list[_Prepared],
               pool: ThreadPoolExecutor):
        """The model's input for ``to_embed``. With the device decoder its pending JPEGs are
        decoded there (thumbnails written by the pool); one the device rejects is decoded
        on the CPU, and one that fails there too moves to ``to_write`` with its error."""
        if self._device_jpeg is None:
            return np.stack([r.tensor for r in to_embed])
        def save_later(hash_: str, image) -> None:
            saves = [x for x in self._thumbnail_saves if not x[0].done()]
            saves.append((pool.submit(self._save_thumbnail, hash_, image), hash_, image))
            self._thumbnail_saves = saves

        gpudecode.assemble(self._device_jpeg, to_embed, self._decode_here, save_later)
        to_write += [r for r in to_embed if r.tensor is None]
        to_embed[:] = [r for r in to_embed if r.tensor is not None]
        return gpudecode.stack([r.tensor for r in to_embed], self.encoder.device) if to_embed else None

    def _decode_here(self, res: _Prepared, data: bytes) -> None:
        """The CPU path for a JPEG the device decoder rejected: its tensor, or its error."""
        try:
            photo = decode.decode(data, self._min_side, res.photo.hash, name=res.path)
            self._save_thumbnail(photo.hash, photo.image)
            res.tensor = self._preprocess(photo.image)
        except decode.DecodeError as exc:
            res.error = str(exc)

    def _save_thumbnail(self, hash_: str, image) -> None:
        thumbnails = self.library.thumbnails
        if not thumbnails.exists(hash_):
            try:
                thumbnails.save(hash_, image)
            except OSError as exc:  # disk full: the photo is fine, the app shows it anyway
                log.warning("could not write the thumbnail %s: %s", thumbnails.path(hash_), exc)

    def _fill(self, window: deque, jobs, pool: ThreadPoolExecutor) -> None:
        """Keep the decode workers ahead of the model by about two batches, a video counting
        as VIDEO_WEIGHT photos."""
        weight = sum(VIDEO_WEIGHT if video.is_video_name(job[1]) else 1 for _, job in window)
        while weight < self.batch_size * 2:
            job = next(jobs, None)
            if job is None:
                return
            window.append((pool.submit(self._prepare, *job), job))
            weight += VIDEO_WEIGHT if video.is_video_name(job[1]) else 1

    def _prepare_video(self, out: _Prepared) -> _Prepared:
        """A video, in a worker thread: hash it in chunks; a content already known keeps its
        frames' vectors, else sampled frames are made ready for the model. Thumbnails of the
        video (its first frame that is not blank) and of each frame are written here."""
        hash_ = video.file_hash(out.path)
        thumbnails = self.library.thumbnails
        known = (self.catalog.video_frames(self.model, hash_)
                 if self.catalog.has_embedding(self.model.id, hash_) else [])
        facts = self.catalog.video_facts(hash_) if known else None
        out.vector = self.catalog.embedding(self.model, hash_) if known else None
        if known and facts is not None and thumbnails.exists(hash_):  # a copy, a rename
            out.photo = decode.Photo(hash_, facts.width, facts.height, facts.taken_at)
            out.duration = facts.duration
            out.frame_times = [t for t, _ in known]
            out.frame_vectors = np.stack([v for _, v in known])
            return out
        deadline = self._started.get(out.file_id, time.monotonic()) + self.time_limit * 0.9
        clip = video.read(out.path, self._min_side, hash_, deadline)
        out.photo = decode.Photo(hash_, clip.width, clip.height, clip.taken_at)
        out.duration = clip.duration
        try:
            if not thumbnails.exists(hash_):
                thumbnails.save(hash_, clip.frames[0].image)
            for frame in clip.frames:
                if not thumbnails.frame_path(hash_, frame.t).is_file():
                    thumbnails.save_frame(hash_, frame.t, frame.image)
        except OSError as exc:  # disk full: the video is fine, the app shows it anyway
            log.warning("could not write the thumbnails of %s: %s", out.path, exc)
        if known:
            out.frame_times = [t for t, _ in known]
            out.frame_vectors = np.stack([v for _, v in known])
        else:
            out.frame_times = [f.t for f in clip.frames]
            out.frames_tensor = np.stack([self._preprocess(f.image) for f in clip.frames])
        clip.frames = []  # the tensor is all the model needs; free the pixels
        return out

    @staticmethod
    def _keys(ids: list[int], videos: set[int]) -> list[int]:
        """The usearch keys of these files: a photo's id; for a video, every key its frames
        may have (its id too: a file that was a photo before)."""
        return removal_keys(ids, videos)

    def _wait(self, fut: Future, job: tuple[int, str]) -> _Prepared:
        """The worker's result, or a failure once the photo has run past the time limit."""
        file_id, path = job
        waiting_since = time.monotonic()  # not started yet: every worker is stuck on others
        while True:
            try:
                res = fut.result(timeout=0.25)
                self._started.pop(file_id, None)
                return res
            except FutureTimeout:
                started = self._started.get(file_id, waiting_since)
                if time.monotonic() - started < self.time_limit:
                    continue
            self._started.pop(file_id, None)
            self._abandoned += 1
            log.warning("gave up on %s after %.0f s", path, self.time_limit)
            row = self.catalog.file_by_path(path)  # as scanned: retried when it changes
            return _Prepared(file_id, path, size=row.size if row else 0,
                             mtime_ns=row.mtime_ns if row else 0,
                             error=f"took longer than {self.time_limit:g} s to read "
                                   f"(a hung drive or an enormous image)")

    def _commit(self, to_embed: list[_Prepared], to_write: list[_Prepared],
                report: IndexReport, batch) -> None:
        """Embed a batch, then write it, on this thread."""
        self._embed(to_embed, to_write, batch)
        self._write(to_embed, to_write, report)

    def _embed(self, to_embed: list[_Prepared], to_write: list[_Prepared], batch) -> None:
        """The model's part of a batch (on the indexer's thread): ``batch``, the input for
        ``to_embed``, and the frames of the videos in ``to_write``."""
        if batch is not None:
            vectors = self.encoder.encode_images(batch).astype(np.float16)
            for res, vec in zip(to_embed, vectors, strict=True):
                res.vector, res.tensor = vec, None
        for res in to_write:  # a video's frames: one batch of their own
            if res.frames_tensor is not None:
                res.frame_vectors = self.encoder.encode_images(res.frames_tensor).astype(
                    np.float16)
                res.frames_tensor, res.frames_fresh = None, True

    def _write(self, to_embed: list[_Prepared], to_write: list[_Prepared],
               report: IndexReport) -> None:
        """Write an embedded batch in one transaction, then update the vector index, and
        count it in ``report``. On the commit thread: nothing else writes meanwhile."""
        add_keys, add_vecs, drop, outcomes = [], [], [], []
        for res, fresh in [(r, True) for r in to_embed] + [(r, False) for r in to_write]:
            if video.is_video_name(res.path):  # whatever frames it had go; its new ones come
                drop += self._keys([res.file_id], {res.file_id})
            if res.vanished:
                outcomes.append(Outcome(res.file_id, vanished=True))
                drop.append(res.file_id)
                report.removed += 1
            elif res.error is not None:
                outcomes.append(Outcome(res.file_id, res.size, res.mtime_ns, error=res.error))
                drop.append(res.file_id)
                report.failed.append((res.path, res.error))
            elif res.frame_times is not None:  # a video: in the index by its frames
                p, fresh = res.photo, res.frames_fresh
                vectors = np.asarray(res.frame_vectors, dtype=np.float16)
                outcomes.append(Outcome(
                    res.file_id, res.size, res.mtime_ns, hash=p.hash, taken_at=p.taken_at,
                    width=p.width, height=p.height, duration=res.duration,
                    new_vector=video.mean_vector(vectors) if fresh else None,
                    new_frames=list(zip(res.frame_times, vectors, strict=True)) if fresh
                    else None))
                if fresh:
                    report.embedded += 1
                else:
                    report.reused += 1
                add_keys += [frame_key(res.file_id, n) for n in range(len(vectors))]
                add_vecs += list(vectors)
            else:
                p = res.photo
                outcomes.append(Outcome(res.file_id, res.size, res.mtime_ns, hash=p.hash,
                                        taken_at=p.taken_at, width=p.width, height=p.height,
                                        new_vector=res.vector if fresh else None))
                if fresh:
                    report.embedded += 1
                else:
                    report.reused += 1
                add_keys.append(res.file_id)
                add_vecs.append(res.vector)
        self.catalog.record_outcomes(self.model, outcomes)
        self.index.remove(drop)
        if add_keys:
            self.index.add(np.array(add_keys, dtype=np.uint64), np.stack(add_vecs).astype(np.float32))
