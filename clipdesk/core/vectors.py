"""The usearch vector index: derived from the catalog, saved atomically, healed on open.

The catalog records, per model, the catalog version, byte size and mtime of the index file
it last saved. On open, a file that is missing, of another size or mtime (truncated,
zeroed, replaced), unreadable, or behind the catalog's version is not trusted: the index
is rebuilt from the catalog's stored embeddings, without running CLIP.
"""

from __future__ import annotations

import logging
import os
import threading
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
# on 2 cores: f16 keeps the file at 1.1 GiB (resident 1.2 GiB, loaded in 1.7 s); a search
# expansion of 512 is the widest with top-100 p95 under 10 ms (8 ms), lifting recall@10
# from 0.61 (64) to 0.89. The expansions are not saved in the file (see VectorIndex).
INDEX_SETTINGS = {"metric": "cos", "dtype": "f16", "connectivity": 16, "expansion_add": 128,
                  "expansion_search": 512}


# Libraries up to this size are searched exhaustively (exact answers, no graph). Measured
# with `benchmarks/search_scale.py --n 1000000 --exact-sizes 50000,...,400000` (usearch's
# exact scan of f16 vectors, one query, the app's top 2,000, one thread, 2 cores at load
# 0.7-1.4): p95 4.4 ms at 50,000, 7.4 at 100,000, 13.7 at 200,000, 16.7 at 250,000, 19.7 at
# 300,000, 31 at 400,000. 250,000 keeps a sixth of the 20 ms budget for a busier machine.
EXACT_BELOW = 250_000


class VectorIndex:
    """Unit vectors keyed by file id, with cosine scores.

    A lock serialises every call into usearch: the app searches while its indexer adds and
    removes vectors in another thread, and usearch's own calls are not safe to overlap.
    """

    def __init__(self, dim: int, index: Index | None = None):
        self.dim = dim
        self.index = index if index is not None else Index(ndim=dim, **INDEX_SETTINGS)
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

    def search(self, vector: np.ndarray, count: int) -> tuple[np.ndarray, np.ndarray]:
        """Top ``count`` (keys, cosine scores), best first."""
        with self.lock:
            if len(self.index) == 0 or count <= 0:
                return np.zeros(0, dtype=np.uint64), np.zeros(0, dtype=np.float32)
            exact = len(self.index) <= EXACT_BELOW  # brute force: exact, and fast at this size
            found = self.index.search(np.asarray(vector, dtype=np.float32),
                                      min(count, len(self.index)), exact=exact)
        return np.asarray(found.keys), 1.0 - np.asarray(found.distances, dtype=np.float32)

    def search_among(self, vector: np.ndarray, keys: list[int], count: int
                     ) -> tuple[np.ndarray, np.ndarray]:
        """Exact top ``count`` (keys, cosine scores) among ``keys`` (those in the index)."""
        keys = np.asarray(keys, dtype=np.uint64)
        with self.lock:
            if len(keys):
                keys = keys[np.asarray(self.index.contains(keys), dtype=bool).reshape(-1)]
            if len(keys) == 0 or count <= 0:
                return np.zeros(0, dtype=np.uint64), np.zeros(0, dtype=np.float32)
            vectors = np.asarray(self.index.get(keys), dtype=np.float32).reshape(len(keys), -1)
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
    Returns (index, changed); the caller (the one writer) saves a changed index."""
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
