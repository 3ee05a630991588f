"""Searcher: text, negatives, "like this" images, exclusions and filters, on a library of
shape photos indexed with the trained tiny CLIP; and the three ways a filtered search can be
answered (the exact scan of a small library, the graph asked for ever more neighbours, the
exact scan among the files a filter keeps), each checked against a numpy ranking of the
stored vectors on a larger library of fake embeddings."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from modulepaths import module_paths

import tinyclip
from clipdesk.core import models, search, vectors
from clipdesk.core.catalog import Outcome
from clipdesk.core.errors import ClipDeskError
from clipdesk.core.indexer import Indexer
from clipdesk.core.library import Library
from clipdesk.core.query import Filters, parse
from clipdesk.core.scan import FoundFile
from clipdesk.core.search import Searcher

DAY = 86_400
BASE = 1_600_000_000  # the photos' times: BASE + i days, in path order


def kind(path: str) -> str:
    """'red-circle' for .../red-circle-0.jpg."""
    return Path(path).stem.rsplit("-", 1)[0]


# ---------------------------------------------------------------------- the shapes library


@pytest.fixture(scope="module")
def shapes(tmp_path_factory, onnx_cache, trained_model, shapes_folder):
    """(library, encoder, photos folder, {path: mtime}) - the 24 shape photos plus two more
    in photos/more2 (a sibling of photos/more), each photo on its own day."""
    base = tmp_path_factory.mktemp("search").resolve()
    with module_paths(base, onnx_cache):  # module scope: before isolated_paths
        encoder = models.load(models.ModelSpec.parse(trained_model), device="cpu")
        encoder.encode_texts(["warm up"])  # sessions load now, under the patched cache
        photos = base / "photos"
        shutil.copytree(shapes_folder, photos)
        rng = np.random.default_rng(77)
        (photos / "more2").mkdir()
        tinyclip.draw_shape("red", "circle", rng, size=(300, 240)).save(photos / "more2" / "red-circle-7.png")
        tinyclip.draw_shape("blue", "square", rng, size=(300, 240)).save(photos / "more2" / "blue-square-7.png")
        times = {}
        for i, path in enumerate(sorted(p for p in photos.rglob("*") if p.is_file())):
            t = BASE + i * DAY
            os.utime(path, (t, t))
            times[str(path)] = float(t)
        library = Library(base / "lib")
        Indexer(library, encoder, on_progress=lambda *_: None).run([photos])
    yield library, encoder, photos, times
    library.close()


@pytest.fixture
def searcher(shapes):
    library, encoder, _, _ = shapes
    return Searcher(library, library.model_row(encoder.spec), lambda: encoder)


def test_the_library_holds_every_photo(shapes):
    library, encoder, _, times = shapes
    assert library.catalog.indexed_count(library.model_row(encoder.spec)) == len(times) == 26


def test_text_ranks_the_class_first(shapes, searcher):
    _, _, _, times = shapes
    for color, shape in tinyclip.CLASSES:
        wanted = f"{color}-{shape}"
        count = sum(kind(p) == wanted for p in times)
        hits = searcher.answer(parse(tinyclip.caption(color, shape)), n=count + 1)
        assert [kind(h.path) for h in hits[:count]] == [wanted] * count, (wanted, hits)
        assert kind(hits[count].path) != wanted
        assert all(a.score >= b.score for a, b in zip(hits, hits[1:], strict=False))


def test_a_negative_pushes_a_class_down(searcher):
    everything = 26
    plain = searcher.answer(parse("a photo of a red circle"), n=everything)
    runner_up = next(kind(h.path) for h in plain if kind(h.path) != "red-circle")
    color, shape = runner_up.split("-")
    query = parse(f'a photo of a red circle -"{tinyclip.caption(color, shape)}"')
    assert query.negatives == (tinyclip.caption(color, shape),)
    negated = searcher.answer(query, n=everything)

    def ranks(hits, name):
        return [i for i, h in enumerate(hits) if kind(h.path) == name]

    assert [kind(h.path) for h in negated[:3]] == ["red-circle"] * 3
    before, after = ranks(plain, runner_up), ranks(negated, runner_up)
    assert all(a > b for a, b in zip(after, before, strict=True)), (before, after)
    assert kind(negated[3].path) != runner_up


def test_like_this_finds_the_same_class_and_exclude_leaves_the_photo_out(shapes, searcher):
    _, encoder, photos, _ = shapes
    query = str(photos / "green-triangle-0.jpg")
    calls = encoder.image_calls
    hits = searcher.answer(parse("", images=[query]), n=2)
    assert encoder.image_calls == calls  # the library has this content: its stored vector
    assert hits[0].path == query and hits[0].score == pytest.approx(1.0, abs=2e-3)
    assert kind(hits[1].path) == "green-triangle"
    hits = searcher.answer(parse("", images=[query], exclude=[query]), n=3)
    assert query not in [h.path for h in hits]
    assert kind(hits[0].path) == "green-triangle"
    assert hits[0].path == str(photos / "more" / "green-triangle-1.png")


def test_text_and_image_combine(shapes, searcher):
    _, _, photos, _ = shapes
    like = str(photos / "yellow-circle-0.jpg")
    hits = searcher.answer(parse("a photo of a yellow circle", images=[like], exclude=[like]), n=1)
    assert kind(hits[0].path) == "yellow-circle" and hits[0].path != like


def test_image_vector_of_a_photo_outside_the_library(shapes, searcher, tmp_path):
    _, encoder, _, _ = shapes
    outside = tmp_path / "elsewhere" / "query.png"
    outside.parent.mkdir()
    tinyclip.draw_shape("yellow", "square", np.random.default_rng(99), size=(300, 260)).save(outside)
    calls = encoder.image_calls
    vector = searcher.image_vector(outside)
    assert encoder.image_calls == calls + 1
    assert vector.shape == (encoder.dim,)
    assert float(np.linalg.norm(vector)) == pytest.approx(1.0, abs=1e-3)
    hits = searcher.search(vector, 2)
    assert [kind(h.path) for h in hits] == ["yellow-square"] * 2


def test_unusable_query_images_and_empty_queries_are_errors(searcher, tmp_path):
    with pytest.raises(ClipDeskError, match="image not found"):
        searcher.image_vector(tmp_path / "missing.jpg")
    (tmp_path / "notes.jpg").write_text("not a picture")
    with pytest.raises(ClipDeskError, match="cannot use"):
        searcher.image_vector(tmp_path / "notes.jpg")
    with pytest.raises(ClipDeskError, match="nothing to search for"):
        searcher.answer(parse("   -night"))


def test_text_vectors_come_from_the_cache_without_the_encoder(shapes, searcher):
    _, encoder, _, _ = shapes
    calls = encoder.text_calls
    first = searcher.text_vector("a photo of a blue circle")
    assert encoder.text_calls == calls + 1
    assert searcher.text_vector("a photo of a blue circle") is first
    searcher.answer(parse("a photo of a blue circle"))
    searcher.answer(parse("a photo of a blue circle"))
    assert encoder.text_calls == calls + 1


def test_the_text_cache_keeps_the_256_most_recently_used(shapes, searcher):
    _, encoder, _, _ = shapes
    searcher.text_vector("first")
    for i in range(255):
        searcher.text_vector(f"other {i}")
    calls = encoder.text_calls
    searcher.text_vector("first")  # used again: now the most recent
    searcher.text_vector("one more")  # evicts the least recently used: "other 0"
    assert encoder.text_calls == calls + 1
    searcher.text_vector("first")
    assert encoder.text_calls == calls + 1
    searcher.text_vector("other 0")
    assert encoder.text_calls == calls + 2


def test_folder_filter_keeps_that_folder_not_its_sibling(shapes, searcher):
    _, _, photos, times = shapes
    query = parse("a photo of a red circle", filters=Filters(folder=photos / "more"))
    hits = searcher.answer(query, n=100)
    inside = {p for p in times if Path(p).parent == photos / "more"}
    assert {h.path for h in hits} == inside and len(inside) == 12
    assert kind(hits[0].path) == "red-circle"
    unfiltered = searcher.answer(parse("a photo of a red circle"), n=100)
    assert [h.path for h in hits] == [h.path for h in unfiltered if h.path in inside]


def test_date_filters_are_inclusive_and_use_the_file_time(shapes, searcher):
    _, _, _, times = shapes
    ordered = sorted(times, key=times.get)
    after, before = times[ordered[5]], times[ordered[14]]
    hits = searcher.answer(parse("a photo of a green square",
                                 filters=Filters(after=after, before=before)), n=100)
    assert {h.path for h in hits} == set(ordered[5:15])
    assert all(h.taken_at == times[h.path] for h in hits)
    hits = searcher.answer(parse("a photo of a green square", filters=Filters(after=after)), n=100)
    assert {h.path for h in hits} == set(ordered[5:])
    hits = searcher.answer(parse("a photo of a green square", filters=Filters(before=after - 1)),
                           n=100)
    assert {h.path for h in hits} == set(ordered[:5])


def test_min_score_keeps_only_hits_scoring_at_least_that(searcher):
    plain = searcher.answer(parse("a photo of a blue triangle"), n=26)
    threshold = (plain[4].score + plain[5].score) / 2
    assert plain[4].score > plain[5].score
    hits = searcher.answer(parse("a photo of a blue triangle",
                                 filters=Filters(min_score=threshold)), n=26)
    assert [h.path for h in hits] == [h.path for h in plain[:5]]
    assert searcher.answer(parse("a photo of a blue triangle",
                                 filters=Filters(min_score=1.01)), n=26) == []


# ---------------------------------------------------------------------- the three search paths


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    """A library of 1,200 fake 16-d embeddings: most in common/, 40 in rare/ (plus two there
    that are pending or failed), 40 in its sibling rare2/; one file a day, some with an EXIF
    date far from their mtime. No photo files: search reads only the catalog and index."""
    base = tmp_path_factory.mktemp("synthetic").resolve()
    library = Library(base / "lib")
    catalog = library.catalog
    model = catalog.model("hf-hub:tests/fake-16d", dim=16)
    root = base / "photos"
    rid = catalog.add_root(root)
    rng = np.random.default_rng(2024)
    paths = ([root / "rare" / f"{i}.jpg" for i in range(40)]
             + [root / "rare2" / f"{i}.jpg" for i in range(40)]
             + [root / "common" / f"{i}.jpg" for i in range(1120)])
    mtimes = {str(p): (BASE + i * DAY) * 10**9 for i, p in enumerate(rng.permutation(paths))}
    found = {p: FoundFile(p, 1, m) for p, m in mtimes.items()}
    found[str(root / "rare" / "pending.jpg")] = FoundFile(str(root / "rare" / "pending.jpg"), 1, 0)
    found[str(root / "rare" / "failed.jpg")] = FoundFile(str(root / "rare" / "failed.jpg"), 1, 0)
    catalog.record_scan(rid, found, {}, [])
    rows = catalog.files_under(rid, str(root))
    outcomes = []
    for i, (path, m) in enumerate(mtimes.items()):
        v = rng.normal(size=16)
        taken = (BASE + 3000 * DAY) if i % 7 == 0 else None  # EXIF date wins over the mtime
        outcomes.append(Outcome(rows[path].id, size=1, mtime_ns=m, hash=f"h{i}", taken_at=taken,
                                new_vector=(v / np.linalg.norm(v)).astype(np.float32)))
    outcomes.append(Outcome(rows[str(root / "rare" / "failed.jpg")].id, error="broken"))
    catalog.record_outcomes(model, outcomes)
    yield library, model, root
    library.close()


def no_encoder():
    raise AssertionError("a search by vector needs no encoder")


_stored: dict = {}


def brute_force(library, model, vector, n, filters: Filters, exclude=()) -> list[tuple[int, float]]:
    """The right answer: every stored vector scored with numpy, then filtered."""
    if library.folder not in _stored:  # the synthetic library does not change: read it once
        keys, stored = library.catalog.indexed_vectors(model)
        _stored[library.folder] = keys, stored, library.catalog.files_by_ids(keys.tolist())
    keys, stored, rows = _stored[library.folder]
    scores = stored @ vector / np.linalg.norm(stored, axis=1)
    folder = str(filters.folder) + os.sep if filters.folder else None
    out = []
    for i in np.argsort(-scores, kind="stable"):
        row = rows[int(keys[i])]
        when = row.taken_at if row.taken_at is not None else row.mtime_ns / 1e9
        if (row.path in exclude or (folder and not row.path.startswith(folder))
                or (filters.after is not None and when < filters.after)
                or (filters.before is not None and when > filters.before)
                or (filters.min_score is not None and scores[i] < filters.min_score)):
            continue
        out.append((row.id, float(scores[i])))
    return out[:n]


def filter_cases(root: Path) -> dict[str, tuple[Filters, tuple[str, ...]]]:
    start = BASE + 200 * DAY
    return {
        "folder": (Filters(folder=root / "rare"), ()),
        "folder, not the best": (Filters(folder=root / "rare"), ("BEST",)),
        "dates": (Filters(after=start, before=start + 60 * DAY), ()),
        "exif dates": (Filters(after=BASE + 3000 * DAY, before=BASE + 3000 * DAY), ()),
        "folder and dates": (Filters(folder=root / "rare2", after=BASE, before=start + 400 * DAY), ()),
        "folder and min score": (Filters(folder=root / "common", min_score=0.6), ()),
        "min score only": (Filters(min_score=0.7), ()),
    }


MODES = {
    # a small library: the exact scan, then the filters
    "small library": {},
    # a large library, a filter keeping few photos: exact among those
    "filtered exact": {"search": {"EXACT_BELOW": 0}},
    # a large library, a filter keeping many: the graph, asked for ever more neighbours
    "graph": {"search": {"EXACT_BELOW": 0, "FILTERED_EXACT_MAX": 0}},
}


@pytest.mark.parametrize("mode", MODES)
def test_every_search_path_gives_the_brute_force_answer(synthetic, monkeypatch, mode):
    library, model, root = synthetic
    for name, value in MODES[mode].get("search", {}).items():
        monkeypatch.setattr(search, name, value)
    searcher = Searcher(library, model, no_encoder)
    taken = []
    calls = []
    real_among, real_search = searcher.index.search_among, searcher.index.search

    def among(*args):
        calls.append("among")
        return real_among(*args)

    def graph(vector, count):
        calls.append(count)
        return real_search(vector, count)

    monkeypatch.setattr(searcher.index, "search_among", among)  # counted, then run as they are
    monkeypatch.setattr(searcher.index, "search", graph)
    rng = np.random.default_rng(5)
    for case, (filters, exclude) in filter_cases(root).items():
        for _ in range(3):
            vector = rng.normal(size=16).astype(np.float32)
            vector /= np.linalg.norm(vector)
            if exclude:
                best = brute_force(library, model, vector, 1, filters)[0][0]
                exclude = (library.catalog.files_by_ids([best])[best].path,)
            for n in (1, 10, 25):
                want = brute_force(library, model, vector, n, filters, exclude)
                got = searcher.search(vector, n, filters, exclude=set(exclude))
                assert [h.file_id for h in got] == [k for k, _ in want], (mode, case, n)
                np.testing.assert_allclose([h.score for h in got], [s for _, s in want],
                                           atol=2e-3)
                taken.append(case)
    assert len(taken) == 7 * 3 * 3
    if mode == "filtered exact":
        assert "among" in calls
    if mode == "graph":
        assert "among" not in calls
        assert any(c != "among" and c > 256 for c in calls)  # it asked for more


def test_the_approximate_graph_gives_right_hits_that_pass_the_filters(synthetic, monkeypatch):
    """The HNSW graph itself answering (no exact scan anywhere): approximate, so every hit
    must be a right one, in order, and nearly all of the best must be found."""
    library, model, root = synthetic
    monkeypatch.setattr(search, "EXACT_BELOW", 0)
    monkeypatch.setattr(search, "FILTERED_EXACT_MAX", 0)
    monkeypatch.setattr(vectors, "EXACT_BELOW", 0)
    searcher = Searcher(library, model, no_encoder)
    rng = np.random.default_rng(6)
    found = wanted = 0
    for case, (filters, _) in filter_cases(root).items():
        for _ in range(3):
            vector = rng.normal(size=16).astype(np.float32)
            vector /= np.linalg.norm(vector)
            right = dict(brute_force(library, model, vector, 10_000, filters))
            got = searcher.search(vector, 10, filters)
            assert all(h.file_id in right for h in got), case  # each passes the filters
            np.testing.assert_allclose([h.score for h in got],
                                       [right[h.file_id] for h in got], atol=2e-3)
            assert all(a.score >= b.score for a, b in zip(got, got[1:], strict=False))
            best = list(right)[:10]
            found += len({h.file_id for h in got} & set(best))
            wanted += len(best)
    assert found >= 0.9 * wanted, (found, wanted)


def test_filtered_exact_never_returns_pending_or_failed_files(synthetic, monkeypatch):
    library, model, root = synthetic
    monkeypatch.setattr(search, "EXACT_BELOW", 0)
    searcher = Searcher(library, model, no_encoder)
    vector = np.ones(16, dtype=np.float32) / 4
    hits = searcher.search(vector, 100, Filters(folder=root / "rare"))
    assert len(hits) == 40
    assert all(Path(h.path).parent == root / "rare" for h in hits)
    assert not {"pending.jpg", "failed.jpg"} & {Path(h.path).name for h in hits}


def test_a_folder_filter_on_the_filesystem_root_keeps_everything(synthetic):
    library, model, root = synthetic
    searcher = Searcher(library, model, no_encoder)
    vector = np.ones(16, dtype=np.float32) / 4
    everything = searcher.search(vector, 10)
    hits = searcher.search(vector, 10, Filters(folder=Path(root.anchor)))
    assert [h.file_id for h in hits] == [h.file_id for h in everything]
