"""The usearch index is derived: damaged, missing or stale files heal from the catalog."""

from __future__ import annotations

import numpy as np
import pytest

import tinyclip
from clipdesk.core import models
from clipdesk.core.indexer import Indexer
from clipdesk.core.library import Library
from clipdesk.core.search import Searcher
from clipdesk.core.vectors import index_path


@pytest.fixture(scope="module")
def encoder(random_model):
    return models.load(models.ModelSpec.parse(random_model), device="cpu")


@pytest.fixture
def library(tmp_path, encoder):
    folder = tmp_path / "photos"
    folder.mkdir()
    rng = np.random.default_rng(3)
    for i, (color, shape) in enumerate(tinyclip.CLASSES):
        tinyclip.draw_shape(color, shape, rng, 160).save(folder / f"{i}.png")
    lib = Library(tmp_path / "lib")
    Indexer(lib, encoder, on_progress=lambda *_: None).run([folder])
    lib.close()
    return tmp_path / "lib"


def similar_paths(lib_dir, encoder, query_file):
    lib = Library(lib_dir)
    row = lib.model_row(encoder.spec)
    searcher = Searcher(lib, row, lambda: encoder)
    hits = searcher.search(searcher.image_vector(query_file), 5)
    return lib, [h.path for h in hits]


def damage(path, how):
    if how == "deleted":
        path.unlink()
    elif how == "truncated":
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2])
    elif how == "zeroed":
        path.write_bytes(b"\0" * path.stat().st_size)
    elif how == "garbage":
        path.write_bytes(b"GARBAGE" * 500)


@pytest.mark.allow_log("clipdesk.core.vectors", "rebuilding it")
@pytest.mark.parametrize("how", ["deleted", "truncated", "zeroed", "garbage"])
def test_damaged_index_is_rebuilt_without_clip(library, encoder, how):
    query = next((library.parent / "photos").glob("3.png"))
    _, expected = similar_paths(library, encoder, query)
    spec = encoder.spec
    path = index_path(library, spec.slug)
    damage(path, how)
    calls = encoder.image_calls
    lib, got = similar_paths(library, encoder, query)
    assert got == expected
    assert encoder.image_calls == calls, "healing must not run CLIP"
    assert len(lib.vectors(lib.model_row(spec))) == len(tinyclip.CLASSES)


@pytest.mark.allow_log("clipdesk.core.vectors", "not the one last saved; rebuilding it")
def test_stale_index_behind_the_catalog_is_rebuilt(library, encoder, tmp_path):
    """An index saved before the catalog changed (a crash between the two) is not trusted."""
    spec = encoder.spec
    path = index_path(library, spec.slug)
    old = path.read_bytes()
    lib = Library(library)
    victim = lib.catalog.db.execute("SELECT id, path FROM files LIMIT 1").fetchone()
    with lib.catalog.write() as db:
        db.execute("DELETE FROM files WHERE id = ?", (victim[0],))
    lib.close()
    path.write_bytes(old)  # same bytes, but the catalog moved on
    lib = Library(library)
    index = lib.vectors(lib.model_row(spec))
    assert len(index) == len(tinyclip.CLASSES) - 1
    assert victim[0] not in index


def test_writer_saves_a_healed_index(library, encoder):
    spec = encoder.spec
    path = index_path(library, spec.slug)
    path.unlink()
    lib = Library(library)
    lib.vectors(lib.model_row(spec), persist=True)
    assert not path.exists(), "only the library's writer saves"
    lib.claim_writer()
    lib._indexes.clear()
    lib.vectors(lib.model_row(spec), persist=True)
    assert path.exists()
    lib.close()
    lib = Library(library)
    row = lib.model_row(spec)
    assert row.index_version == lib.catalog.version and row.index_size == path.stat().st_size


def test_reader_catches_up_with_an_index_saved_before_new_writes(library, encoder):
    """A writer (e.g. `clipdesk watch`) commits photos but has not saved the index yet:
    another process's reader still finds them, and the saved file is reused, not rebuilt."""
    photos = library.parent / "photos"
    writer = Library(library)
    indexer = Indexer(writer, encoder, on_progress=lambda *_: None)
    saved = index_path(library, encoder.spec.slug).stat().st_mtime_ns
    tinyclip.draw_shape("red", "circle", np.random.default_rng(11), 160).save(photos / "new.png")
    (photos / "0.png").unlink()
    tinyclip.draw_shape("blue", "square", np.random.default_rng(12), 160).save(photos / "1.png")
    indexer.sync_paths([photos / "new.png", photos / "0.png", photos / "1.png"])
    assert index_path(library, encoder.spec.slug).stat().st_mtime_ns == saved  # not saved yet

    reader = Library(library)
    row = reader.model_row(encoder.spec)
    searcher = Searcher(reader, row, lambda: encoder)
    hit = searcher.search(searcher.image_vector(photos / "new.png"), 1)[0]
    assert hit.path == str(photos / "new.png") and hit.score > 0.99
    hit = searcher.search(searcher.image_vector(photos / "1.png"), 1)[0]
    assert hit.path == str(photos / "1.png") and hit.score > 0.99  # new content, same file
    assert len(searcher.index) == len(tinyclip.CLASSES)
    assert writer.catalog.file_by_path(str(photos / "0.png")) is None


def test_small_libraries_return_every_photo_when_asked_for_all(tmp_path):
    """Approximate search may drop a neighbour; a small library is searched exhaustively."""
    from clipdesk.core.vectors import VectorIndex

    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(300, 64)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    index = VectorIndex.build(64, np.arange(300, dtype=np.uint64), vectors)
    index.stored = lambda keys: {k: vectors[k] for k in keys}  # the catalog's, as a library's
    keys, scores = index.search(vectors[7], 300)
    assert sorted(keys.tolist()) == list(range(300))
    assert keys[0] == 7 and np.all(np.diff(scores) <= 1e-6)
    expected = np.argsort(-(vectors @ vectors[7]))[:10]
    assert keys[:10].tolist() == expected.tolist()


def test_an_index_saved_with_other_settings_opens_and_searches(tmp_path, monkeypatch):
    """Changing the defaults must not break libraries indexed before: a file saved with
    another dtype and connectivity loads as it is, with today's search expansion."""
    from usearch.index import Index

    from clipdesk.core import vectors as vectors_module
    from clipdesk.core.vectors import INDEX_SETTINGS, VectorIndex

    monkeypatch.setattr(vectors_module, "EXACT_BELOW", 0)  # as if the library were large

    rng = np.random.default_rng(1)
    vectors = rng.normal(size=(3_000, 16)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    keys = np.arange(1, 3_001, dtype=np.uint64)
    other = "i8" if INDEX_SETTINGS["dtype"] != "i8" else "f16"
    old = Index(ndim=16, metric="cos", dtype=other, connectivity=8, expansion_search=17)
    old.add(keys, vectors, threads=1)  # one thread: the same graph every run
    old.save(str(tmp_path / "old.usearch"))

    index = VectorIndex(16, Index.restore(str(tmp_path / "old.usearch")))
    assert index.index.connectivity == 8 and str(index.index.dtype).endswith(other.upper())
    assert index.index.expansion_search == INDEX_SETTINGS["expansion_search"]
    found, scores = index.search(vectors[123], 5)  # the graph answers
    assert found[0] == 124 and scores[0] > 0.98
    index.add(np.array([99_999], dtype=np.uint64), vectors[:1])  # and it still takes writes
    assert 99_999 in index and len(index) == 3_001


def test_a_selective_filter_is_answered_exactly_among_the_files_it_keeps(
        tmp_path, encoder, monkeypatch):
    """Above EXACT_BELOW, a folder or date filter that keeps few photos scores just those
    (no ever-wider graph search); it agrees with the graph path and keeps only matches."""
    from clipdesk.core import search
    from clipdesk.core.search import Filters

    rng = np.random.default_rng(5)
    for i, (color, shape) in enumerate(tinyclip.CLASSES):
        sub = tmp_path / "photos" / ("a" if i % 3 == 0 else "ab")  # "ab" shares the prefix
        sub.mkdir(parents=True, exist_ok=True)
        tinyclip.draw_shape(color, shape, rng, 96).save(sub / f"{i}.png")
    lib = Library(tmp_path / "lib")
    Indexer(lib, encoder, on_progress=lambda *_: None).run([tmp_path / "photos"])
    searcher = Searcher(lib, lib.model_row(encoder.spec), lambda: encoder)
    query = searcher.text_vector("a photo of a red circle")
    monkeypatch.setattr(search, "EXACT_BELOW", 0)  # as if the library were large

    def found(filters, exact_max):
        monkeypatch.setattr(search, "FILTERED_EXACT_MAX", exact_max)
        return [(h.path, round(h.score, 4)) for h in searcher.search(query, 3, filters)]

    only_a = Filters(folder=tmp_path / "photos" / "a")
    exact = found(only_a, 100)
    assert len(exact) == 3 and all(p.startswith(str(tmp_path / "photos" / "a") + "/")
                                   for p, _ in exact)
    assert exact == found(only_a, 0)  # the graph path, over-fetching, agrees
    assert found(Filters(after=4e9), 100) == []  # a date range nothing is in
    assert len(found(Filters(folder=tmp_path / "photos"), 100)) == 3


def _clustered(n: int, dim: int, seed: int) -> np.ndarray:
    """Unit vectors in tight clusters: near-ties that i8's rounding reorders."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(20, dim))
    v = centres[rng.integers(0, 20, n)] + 0.15 * rng.normal(size=(n, dim))
    return (v / np.linalg.norm(v, axis=1, keepdims=True)).astype(np.float16).astype(np.float32)


def test_a_quantized_index_re_scores_its_best_candidates_from_the_stored_vectors():
    """i8 scores are approximate; the stored (f16) vectors give the exact order and scores
    of the best RERANK, and search_among and vectors_of answer from them too."""
    from clipdesk.core.vectors import RERANK, VectorIndex

    vectors = _clustered(3_000, 64, 4)
    keys = np.arange(1, 3_001, dtype=np.uint64)
    stored = dict(zip((int(k) for k in keys), vectors, strict=True))
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)  # f16 rounding: not quite
    lookups = []

    def lookup(wanted):
        lookups.append(len(wanted))
        return {k: stored[k] for k in wanted if k in stored}

    plain = VectorIndex.build(64, keys, vectors)
    assert plain.quantized  # the shipped settings: i8
    exact = VectorIndex.build(64, keys, vectors)
    exact.stored = lookup
    rng = np.random.default_rng(5)
    better = 0
    for _ in range(20):
        query = vectors[rng.integers(0, 3_000)] + 0.05 * rng.normal(size=64).astype(np.float32)
        truth = unit @ (query / np.linalg.norm(query))  # cosines
        best = np.argsort(-truth, kind="stable")[:10] + 1
        found, scores = exact.search(query, 10)
        assert np.allclose(scores, truth[found.astype(np.int64) - 1], atol=1e-5)
        assert np.all(np.diff(scores) <= 1e-7)
        assert len(set(found.tolist()) & set(best.tolist())) >= 9
        approx, approx_scores = plain.search(query, 10)
        better += len(set(found.tolist()) & set(best.tolist())) - len(
            set(approx.tolist()) & set(best.tolist()))
        assert not np.allclose(approx_scores, truth[approx.astype(np.int64) - 1], atol=1e-5)
    assert better > 0 and lookups and min(lookups) == RERANK
    among, among_scores = exact.search_among(vectors[0], [1, 2, 3, 99_999], 3)
    assert sorted(among.tolist()) == [1, 2, 3]
    assert np.allclose(among_scores, [unit[k - 1] @ unit[0] for k in among], atol=1e-5)
    have, got = exact.vectors_of(np.array([5, 99_999, 7], dtype=np.uint64))
    assert have.tolist() == [5, 7] and np.array_equal(got, vectors[[4, 6]])


def test_the_library_re_scores_from_its_catalog(library, encoder):
    """A library's index gets the catalog's stored vectors: a photo searched by its own
    stored vector scores 1 exactly, as an f16 index would."""
    lib = Library(library)
    try:
        row = lib.model_row(encoder.spec)
        index = lib.vectors(row)
        assert index.quantized and index.stored is not None
        keys, vectors = lib.catalog.indexed_vectors(row)
        stored = lib.catalog.stored_vectors(row, [int(k) for k in keys[:3]] + [10**6])
        assert sorted(stored) == sorted(int(k) for k in keys[:3])
        assert np.array_equal(stored[int(keys[0])], vectors[0])
        found, scores = index.search(vectors[0], 3)
        assert found[0] == keys[0] and abs(scores[0] - 1.0) < 1e-3
    finally:
        lib.close()
