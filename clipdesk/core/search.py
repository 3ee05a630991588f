"""Answering queries: text, an image, or both, with negative terms and filters.

A query is weighted embedding arithmetic on unit vectors: the sum of the positive parts
(texts and "like this" images) minus ``NEGATIVE_WEIGHT`` times the negative texts and
"not like this" images, normalised. Results are cosine scores against the library's vector index.
"""

from __future__ import annotations

import dataclasses
import os
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from clipdesk.core import decode, pairs, video
from clipdesk.core.catalog import ModelRow, file_of_key, frame_of_key
from clipdesk.core.errors import ClipDeskError
from clipdesk.core.library import Library
from clipdesk.core.models import Encoder
from clipdesk.core.query import Filters, Query
from clipdesk.core.scan import media_kind
from clipdesk.core.vectors import EXACT_BELOW

NEGATIVE_WEIGHT = 0.5
# A filter that keeps at most this many photos is answered exactly, among those photos: asking
# the graph for ever more neighbours until enough pass took 11 s at 1M photos for a folder
# holding 0.1% of them; scoring 50,000 stored vectors takes milliseconds.
FILTERED_EXACT_MAX = 50_000


@dataclass
class Hit:
    """One file found. A video is found once, at its best-matching sampled frame: ``time`` is
    that frame's (seconds; its thumbnail is ``Library.frame_thumbnail_path(hash, time)``) and
    ``score`` is that frame's score; ``duration`` is the video's length."""

    path: str
    score: float
    file_id: int
    taken_at: float | None  # EXIF date (a video's creation time), else file mtime
    hash: str | None = None  # content hash: the key of the thumbnail cache
    time: float | None = None  # a video's best moment, seconds; None for a photo
    duration: float | None = None  # a video's length, seconds; None for a photo
    # the RAW of this JPEG's shot, found among the hits but left out by a "photo" media
    # filter (core.pairs): the app shows it as the pair's badge, as when browsing
    raw: str | None = None

    @property
    def is_video(self) -> bool:
        return self.duration is not None


def normalise(v: np.ndarray) -> np.ndarray:
    n = float(np.linalg.norm(v))
    return v / n if n > 0 else v


class Searcher:
    """Searches one library with one model; the encoder loads only when a query needs it."""

    def __init__(self, library: Library, model: ModelRow, encoder: Callable[[], Encoder]):
        self.library = library
        self.catalog = library.catalog
        self.model = model
        self._encoder_factory = encoder
        self._encoder: Encoder | None = None
        self.index = library.vectors(model)
        self._text_cache: OrderedDict[str, np.ndarray] = OrderedDict()

    @property
    def encoder(self) -> Encoder:
        if self._encoder is None:
            self._encoder = self._encoder_factory()
        return self._encoder

    # ------------------------------------------------------------------ query parts

    def text_vector(self, text: str) -> np.ndarray:
        """Embedding of one text, from a small LRU of recent queries."""
        vec = self._text_cache.get(text)
        if vec is None:
            vec = self.encoder.encode_texts([text])[0]
            self._text_cache[text] = vec
            if len(self._text_cache) > 256:
                self._text_cache.popitem(last=False)
        self._text_cache.move_to_end(text)
        return vec

    def image_vector(self, path: Path) -> np.ndarray:
        """An image's embedding: the stored one when the library has this content, else CLIP.
        A video's is the mean of its sampled frames' (``video_vector``)."""
        if video.is_video_name(path):
            return self.video_vector(path)
        try:
            data = decode.read_bytes(path)
        except FileNotFoundError as exc:
            raise ClipDeskError(f"image not found: {path}") from exc
        except decode.DecodeError as exc:
            raise ClipDeskError(f"cannot use {path}: {exc}") from exc
        digest = decode.content_hash(data)
        stored = self.catalog.embedding(self.model, digest)
        if stored is not None:
            return stored
        try:
            photo = decode.decode(data, self.encoder.image_size, digest)
        except decode.DecodeError as exc:
            raise ClipDeskError(f"cannot use {path}: {exc}") from exc
        return self.encoder.encode_pil([photo.image])[0]

    def video_vector(self, path: Path) -> np.ndarray:
        """A video's one vector: its frames' unit mean, stored when the library has this
        content, else sampled and embedded now (a video from outside the library)."""
        try:
            digest = video.file_hash(path)
            stored = self.catalog.embedding(self.model, digest)
            if stored is not None:
                return stored
            clip = video.read(path, self.encoder.image_size, digest)
        except FileNotFoundError as exc:
            raise ClipDeskError(f"video not found: {path}") from exc
        except decode.DecodeError as exc:
            raise ClipDeskError(f"cannot use {path}: {exc}") from exc
        return video.mean_vector(self.encoder.encode_pil([f.image for f in clip.frames]))

    def query_vector(self, texts=(), images=(), negatives=(), negative_images=()) -> np.ndarray:
        """Positive texts and images summed, minus ``NEGATIVE_WEIGHT`` times each negative
        text and "not like this" image: a refined-away photo pushes its look down as a
        word would."""
        parts = [normalise(self.text_vector(t)) for t in texts if t.strip()]
        parts += [normalise(self.image_vector(Path(p))) for p in images]
        if not parts:
            raise ClipDeskError("nothing to search for: give a text or an image")
        q = np.sum(parts, axis=0)
        for t in negatives:
            if t.strip():
                q = q - NEGATIVE_WEIGHT * normalise(self.text_vector(t))
        for p in negative_images:
            q = q - NEGATIVE_WEIGHT * normalise(self.image_vector(Path(p)))
        return normalise(q).astype(np.float32)

    # ------------------------------------------------------------------ ranking

    def answer(self, query: Query, n: int = 20) -> list[Hit]:
        """The best ``n`` photos for a parsed query (text, negatives, images, filters). The
        "not like this" images are left out of the results too."""
        vector = self.query_vector([query.text] if query.text else [], list(query.images),
                                   list(query.negatives), list(query.negative_images))
        return self.search(vector, n, query.filters,
                           exclude=set(query.exclude) | set(query.negative_images))

    def search(self, vector: np.ndarray, n: int = 20, filters: Filters | None = None,
               exclude: set[str] | None = None) -> list[Hit]:
        """The ``n`` best files for ``vector`` that pass ``filters``, best first."""
        filters = filters or Filters()
        exclude = exclude or set()
        total = len(self.index)
        if filters.active and total > EXACT_BELOW:
            ids = self._filtered_ids(filters, FILTERED_EXACT_MAX)
            if ids is not None:
                keys = self.catalog.index_keys(self.model, ids)  # a video's: its frames'
                # enough keys for n files however many of the best are one video's frames
                count = n + len(exclude) + len(keys) - len(ids)
                keys, scores = self.index.search_among(vector, keys, count)
                return self._hits(keys, scores, filters, exclude)[:n]
        k = min(total, n + len(exclude) if not filters.active else max(4 * n, 256))
        while True:
            keys, scores = self.index.search(vector, k)
            hits = self._hits(keys, scores, filters, exclude)
            enough = len(hits) >= n or (filters.min_score is not None and len(scores)
                                         and scores[-1] < filters.min_score)
            if enough or k >= total:
                return hits[:n]
            k = min(total, k * 4)

    def _filtered_ids(self, filters: Filters, limit: int) -> list[int] | None:
        """Ids of the files the folder and date filters keep, or None when more than
        ``limit`` pass (then the graph finds enough of them quickly)."""
        folder = filters.folder.resolve() if filters.folder is not None else None
        return self.catalog.ids_matching(folder, filters.after, filters.before, limit)

    def _hits(self, keys, scores, filters: Filters, exclude: set[str]) -> list[Hit]:
        """Hits for (key, score) pairs, best first: a video once, at its best frame. Photos
        only: RAW+JPEG pairs fold first, then the RAWs leave (``photo_hits``)."""
        rows = self.catalog.files_by_ids(sorted({file_of_key(k) for k in keys}))
        folder = os.path.join(str(filters.folder.resolve()), "") if filters.folder else None
        kinds = {filters.media, "raw"} if filters.media == "photo" else {filters.media}
        out, seen = [], set()
        for key, score in zip(keys, scores, strict=True):
            file_id = file_of_key(key)
            row = rows.get(file_id)
            if row is None or row.path in exclude or file_id in seen:
                continue
            seen.add(file_id)
            if filters.min_score is not None and score < filters.min_score:
                break
            when = row.taken_at if row.taken_at is not None else row.mtime_ns / 1e9
            if folder and not row.path.startswith(folder):
                continue
            if filters.after is not None and when < filters.after:
                continue
            if filters.before is not None and when > filters.before:
                continue
            if filters.media is not None and media_kind(row.path) not in kinds:
                continue
            moment = None
            if (n := frame_of_key(key)) is not None and row.hash is not None:
                moment = self.catalog.frame_time(self.model, row.hash, n)
            out.append(Hit(row.path, float(score), file_id, when, row.hash, moment,
                           row.duration))
        return photo_hits(out, exclude) if filters.media == "photo" else out


def photo_hits(hits: list[Hit], dropped: set[str]) -> list[Hit]:
    """The photos among ``hits`` (best first), RAW+JPEG pairs folded before the RAWs leave:
    the JPEG of a pair takes the better place and score of the two and carries its RAW
    (``Hit.raw``), as the unfiltered search and browsing show the pair. ``dropped``: paths
    left out on purpose, whose RAWs leave with them (``pairs.fold_hits``)."""
    folded, raws = pairs.fold_hits(hits, dropped=dropped)
    return [dataclasses.replace(hit, raw=raws[i]) if i in raws else hit
            for i, hit in enumerate(folded) if media_kind(hit.path) == "photo"]
