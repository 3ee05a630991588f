"""The usearch vector index: derived from the catalog, saved atomically, healed on open.

The catalog records, per model, the catalog version, byte size and mtime of the index file
it last saved. On open, a file that is missing, of another size or mtime (truncated,
zeroed, replaced), unreadable, or behind the catalog's version is not trusted: the index
is rebuilt from the catalog's stored embeddings, without running CLIP.
"""

from __future__ import annotations

import functools
import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np

try:
    # usearch's extension carries its own static C++ runtime. Loaded before onnxruntime, it
    # leaves C++ state that crashes ONNX Runtime's first inference (SIGSEGV); loaded after,
    # both work. So onnxruntime always comes first (tests/core/test_onnx_models.py).
    import onnxruntime  # noqa: F401
except ImportError:  # the index itself works without it
    pass
from usearch.index import Index  # noqa: E402

from clipdesk.core.catalog import Catalog, ModelRow

log = logging.getLogger(__name__)

# HNSW settings, chosen with benchmarks/search_scale.py at 1,000,000 library-shaped vectors
# on 2 shared cores (`--n 1000000 --dtypes i8 --connectivity 48 --ef 256,...,1536 --rerank
# 0,100`): i8 vectors with connectivity 48, the best RERANK candidates re-scored exactly from
# the catalog's stored vectors: recall@10 0.983 at top-100 p95 4.3 ms (expansion 512; 0.962
# at 2.5 ms with 256), file 874 MiB, resident 967 MiB, loaded in 0.8 s. The settings before,
# f16 with connectivity 16, reached 0.89 at 8 ms and no setting of theirs reached 0.95 under
# 10 ms; i8 alone, without re-ranking, stops near 0.90 (its own scores are too coarse). An index
# saved with other settings is used as it is; its expansions always come from here.
INDEX_SETTINGS = {"metric": "cos", "dtype": "i8", "connectivity": 48, "expansion_add": 128,
                  "expansion_search": 512}
RERANK = 100  # at least this many candidates of a quantized index are re-scored (more gained
# nothing at 1M), and every result of a search for up to RERANK_ALL (a filtered search asks
# for up to 1,024: its order and scores are exact), and every result in a library searched
# exactly (below EXACT_BELOW: its catalog is small). A longer list (the app's 2,000) re-scores
# its first RERANK_HEAD and keeps the index's scores (within ~0.005) below: fetching stored
# vectors costs 2.3 ms per 200 at 1M photos warm, 61 ms cold (catalog_vectors.py)
RERANK_ALL = 1024
RERANK_HEAD = 256
EXACT_DTYPES = ("f16", "f32", "f64")  # an index of these scores exactly: nothing to re-score


# Libraries up to this size are searched exhaustively (exact answers, no graph). Measured
# with `benchmarks/search_scale.py --n 1000000 --exact-sizes 50000,...,400000` (usearch's
# exact scan of f16 vectors, one query, the app's top 2,000, one thread, 2 cores at load
# 0.7-1.4): p95 4.4 ms at 50,000, 7.4 at 100,000, 13.7 at 200,000, 16.7 at 250,000, 19.7 at
# 300,000, 31 at 400,000. 250,000 keeps a sixth of the 20 ms budget for a busier machine.
EXACT_BELOW = 250_000


StoredVectors = Callable[[list[int]], dict[int, np.ndarray]]


class VectorIndex:
    """Unit vectors keyed by file id, with cosine scores.

    A lock serialises every call into usearch: the app searches while its indexer adds and
    removes vectors in another thread, and usearch's own calls are not safe to overlap.

    An index of quantized (i8) vectors ranks its candidates by approximate scores; with
    ``stored`` (keys -> the catalog's vectors, set by the library) its candidates (at least
    RERANK) are re-scored exactly, and ``search_among`` and ``vectors_of`` use the stored
    vectors too.
    """

    def __init__(self, dim: int, index: Index | None = None, stored: StoredVectors | None = None):
        self.dim = dim
        self.stored = stored
        self.index = index if index is not None else Index(ndim=dim, **{
            k: v for k, v in INDEX_SETTINGS.items() if k != "expansion_search"})
        # A saved file keeps its dtype and connectivity (an index saved with other settings
        # is used as it is) but not its expansions: those always come from INDEX_SETTINGS.
        self.index.expansion_add = INDEX_SETTINGS["expansion_add"]
        self.index.expansion_search = INDEX_SETTINGS["expansion_search"]
        self.lock = threading.RLock()

    def __len__(self) -> int:
        with self.lock:
            return len(self.index)

    def __contains__(self, key: int) -> bool:
        with self.lock:
            return bool(self.index.contains(int(key)))

    def add(self, keys: np.ndarray, vectors: np.ndarray) -> None:
        keys = np.asarray(keys, dtype=np.uint64)
        if len(keys) == 0:
            return
        with self.lock:
            present = [int(k) for k in keys if self.index.contains(int(k))]
            if present:
                self.index.remove(present)
            self.index.add(keys, np.asarray(vectors, dtype=np.float32))

    def remove(self, keys: list[int]) -> None:
        with self.lock:
            present = [int(k) for k in keys if self.index.contains(int(k))]
            if present:
                self.index.remove(present)

    @property
    def quantized(self) -> bool:
        """Whether the index's own scores are approximate (i8 and the like)."""
        return str(self.index.dtype).rsplit(".", 1)[-1].lower() not in EXACT_DTYPES

    def search(self, vector: np.ndarray, count: int) -> tuple[np.ndarray, np.ndarray]:
        """Top ``count`` (keys, cosine scores), best first."""
        rerank = self.stored is not None and self.quantized
        with self.lock:
            if len(self.index) == 0 or count <= 0:
                return np.zeros(0, dtype=np.uint64), np.zeros(0, dtype=np.float32)
            exact = len(self.index) <= EXACT_BELOW  # brute force: exact, and fast at this size
            want = max(count, RERANK) if rerank else count
            found = self.index.search(np.asarray(vector, dtype=np.float32),
                                      min(want, len(self.index)), exact=exact)
        keys = np.asarray(found.keys)
        scores = 1.0 - np.asarray(found.distances, dtype=np.float32)
        if rerank:
            keys, scores = self._rescore(vector, keys, scores, every=exact)
        return keys[:count], scores[:count]

    def _rescore(self, vector: np.ndarray, keys: np.ndarray, scores: np.ndarray,
                 every: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """The candidates (``every`` one, else the first RERANK_HEAD of more than RERANK_ALL)
        re-scored exactly from the stored vectors, all in score order. A key the catalog no
        longer holds (removed a moment ago) keeps its approximate score."""
        keys_rescored = keys if every or len(keys) <= RERANK_ALL else keys[:RERANK_HEAD]
        stored = self.stored([int(k) for k in keys_rescored])
        query = np.asarray(vector, dtype=np.float32)
        query = query / max(float(np.linalg.norm(query)), 1e-12)
        scores = scores.copy()
        found = [i for i, key in enumerate(keys_rescored) if int(key) in stored]
        if found:
            rows = np.stack([stored[int(keys[i])] for i in found]).astype(np.float32)
            scores[found] = rows @ query / np.maximum(np.linalg.norm(rows, axis=1), 1e-12)
        order = np.argsort(-scores, kind="stable")
        return keys[order], scores[order]

    def vectors_of(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(present keys, their vectors as float32 rows): the stored ones when the index's
        are quantized, else the index's own."""
        keys = np.asarray(keys, dtype=np.uint64)
        with self.lock:
            if len(keys):
                keys = keys[np.asarray(self.index.contains(keys), dtype=bool).reshape(-1)]
            if len(keys) == 0:
                return keys, np.zeros((0, self.dim), dtype=np.float32)
            if self.stored is None or not self.quantized:
                got = np.asarray(self.index.get(keys, dtype=np.float32), dtype=np.float32)
                return keys, got.reshape(len(keys), -1)
        stored = self.stored([int(k) for k in keys])
        keys = np.array([k for k in keys if int(k) in stored], dtype=np.uint64)
        vectors = (np.stack([stored[int(k)] for k in keys]).astype(np.float32) if len(keys)
                   else np.zeros((0, self.dim), dtype=np.float32))
        return keys, vectors

    def search_among(self, vector: np.ndarray, keys: list[int], count: int
                     ) -> tuple[np.ndarray, np.ndarray]:
        """Exact top ``count`` (keys, cosine scores) among ``keys`` (those in the index)."""
        if count <= 0:
            return np.zeros(0, dtype=np.uint64), np.zeros(0, dtype=np.float32)
        keys, vectors = self.vectors_of(keys)
        if len(keys) == 0:
            return np.zeros(0, dtype=np.uint64), np.zeros(0, dtype=np.float32)
        vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
        query = np.asarray(vector, dtype=np.float32)
        scores = vectors @ (query / max(float(np.linalg.norm(query)), 1e-12))
        best = np.argsort(-scores, kind="stable")[:count]
        return keys[best], scores[best]

    def save(self, path: Path) -> tuple[int, int]:
        """Write atomically (temp file, fsync, rename); returns (size, mtime_ns) of the file."""
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        try:
            with self.lock:
                self.index.save(str(tmp))
            with open(tmp, "rb+") as fh:
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except BaseException:  # disk full, say: the previous file stays as it was
            if tmp.is_file():
                tmp.unlink()
            raise
        st = path.stat()
        return st.st_size, st.st_mtime_ns

    @classmethod
    def build(cls, dim: int, keys: np.ndarray, vectors: np.ndarray) -> VectorIndex:
        vi = cls(dim)
        if len(keys):
            vi.index.add(np.asarray(keys, dtype=np.uint64), np.asarray(vectors, dtype=np.float32))
        return vi


def index_path(library: Path, spec_slug: str) -> Path:
    return Path(library) / "index" / f"{spec_slug}.usearch"


def open_index(catalog: Catalog, model: ModelRow, path: Path) -> tuple[VectorIndex, bool]:
    """The model's index, loaded if the saved file is intact, caught up with the catalog if
    it is behind, or rebuilt from the catalog if it is missing or damaged.
    Returns (index, changed); the caller (the one writer) saves a changed index. The index
    re-scores from the catalog's stored vectors (``VectorIndex.stored``)."""
    index, changed = _open(catalog, model, path)
    index.stored = functools.partial(catalog.stored_vectors, model)
    return index, changed


def _open(catalog: Catalog, model: ModelRow, path: Path) -> tuple[VectorIndex, bool]:
    index = _load_intact(model, path)
    if index is not None:
        if model.index_version == catalog.version and len(index) == catalog.indexed_count(model):
            return index, False
        _catch_up(catalog, model, index)
        return index, True
    keys, vectors = catalog.indexed_vectors(model)
    log.info("rebuilding the %s index from %d stored embeddings", model.spec, len(keys))
    return VectorIndex.build(model.dim, keys, vectors), True


def _load_intact(model: ModelRow, path: Path) -> VectorIndex | None:
    """The saved file, if it is exactly the file the catalog recorded (size and mtime)."""
    try:
        st = path.stat()
    except OSError:
        return None
    if (st.st_size, st.st_mtime_ns) != (model.index_size, model.index_mtime_ns):
        if model.index_size >= 0:
            log.warning("index file %s is not the one last saved; rebuilding it", path)
        return None
    try:
        index = Index.restore(str(path), view=False)
    except Exception:  # a damaged file is rebuilt, never trusted
        log.warning("index file %s is unreadable; rebuilding it from the catalog", path)
        return None
    if index is None or index.ndim != model.dim:
        return None
    return VectorIndex(model.dim, index)


def _catch_up(catalog: Catalog, model: ModelRow, index: VectorIndex) -> None:
    """Apply what the catalog recorded since the index was saved: drop keys no longer
    indexed, add or replace vectors of files changed since (with a margin for clock skew)."""
    wanted = set(catalog.indexed_ids(model))
    present = {int(k) for k in np.asarray(index.index.keys)}
    index.remove(list(present - wanted))
    since = model.index_mtime_ns / 1e9 - 2.0
    keys, vectors = catalog.indexed_vectors(model, changed_since=since,
                                           also=sorted(wanted - present))
    index.add(keys, vectors)
    log.info("caught the %s index up: %d removed, %d added or replaced",
             model.spec, len(present - wanted), len(keys))
