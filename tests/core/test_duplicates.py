"""Duplicates: exact copies, near copies and bursts of one scene, found apart, on real photo
files indexed with the trained tiny CLIP; the incremental path; files that vanished or
changed; the usearch k-NN path checked against an exact pairwise scan on fake embeddings.

The tiny model scores a re-encode, a half-size copy or a PNG re-save of a photo ~1.00
against it, shots of one burst ~0.99, another photo of the same shape class 0.94-0.97 and
photos of other classes at most ~0.6; so the test data keeps unrelated photos in other
classes and the tests pass threshold 0.9 (a real CLIP's default is 0.95)."""

from __future__ import annotations

import os
import shutil
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import tinyclip
from clipdesk.core import duplicates, models
from clipdesk.core.catalog import Outcome
from clipdesk.core.duplicates import DuplicateFinder, Member, find_groups, suggest_keep
from clipdesk.core.indexer import Indexer
from clipdesk.core.library import Library
from clipdesk.core.scan import FoundFile

T = 0.9  # near and shots thresholds for the tiny model


def exif_for(when: str | None) -> Image.Exif:
    exif = Image.Exif()
    if when is not None:
        exif.get_ifd(0x8769)[0x9003] = when  # DateTimeOriginal, "YYYY:MM:DD HH:MM:SS"
    return exif


def stamp(when: str) -> float:
    return datetime.strptime(when, "%Y:%m:%d %H:%M:%S").timestamp()


def make_photos(folder: Path) -> dict[str, set[str]]:
    """The test photo set; returns the expected groups {kind: names} (names relative to
    ``folder``). Every file's mtime is set, in the order written."""
    rng = np.random.default_rng(2024)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "backup").mkdir()
    written: list[Path] = []

    def save(image: Image.Image, name: str, when: str | None, **opts) -> Path:
        path = folder / name
        image.save(path, exif=exif_for(when), **opts)
        written.append(path)
        return path

    # exact: three files with the same bytes
    first = save(tinyclip.draw_shape("red", "circle", rng, (640, 480)), "IMG_0001.jpg",
                 "2024:05:01 09:00:00", quality=90)
    for name in ("IMG_0001 copy.jpg", "backup/IMG_0001.jpg"):
        shutil.copyfile(first, folder / name)
        written.append(folder / name)
    # near: one picture re-encoded, at half size, re-saved as PNG (no EXIF)
    blue = tinyclip.draw_shape("blue", "square", rng, (640, 480))
    save(blue, "IMG_0002.jpg", "2024:05:02 10:00:00", quality=92)
    save(blue, "IMG_0002-q60.jpg", "2024:05:02 10:00:00", quality=60)
    save(blue.resize((320, 240)), "IMG_0002-small.jpg", "2024:05:02 10:00:00", quality=90)
    save(blue, "IMG_0002.png", None)
    # shots: a burst, the camera drifting a little, a second apart
    scene = tinyclip.draw_shape("green", "triangle", rng, (700, 520))
    for i in range(4):
        save(scene.crop((i * 12, i * 6, i * 12 + 640, i * 6 + 480)), f"BURST_{i}.jpg",
             f"2024:05:03 12:00:0{i}", quality=90)
    # unrelated: other classes, other days; and another blue square a month later (close to
    # IMG_0002 for this model, but a different shot: its own date)
    for i, (color, shape) in enumerate([("yellow", "square"), ("red", "triangle"),
                                        ("green", "circle"), ("yellow", "triangle")]):
        save(tinyclip.draw_shape(color, shape, rng, (640, 480)), f"other-{color}-{shape}.jpg",
             f"2024:0{i + 1}:15 15:30:00", quality=90)
    save(tinyclip.draw_shape("blue", "square", rng, (640, 480)), "other-blue-square.jpg",
         "2024:06:02 10:00:00", quality=90)
    for i, path in enumerate(written):
        t = 1_700_000_000 + i * 60
        os.utime(path, (t, t))
    return {
        "exact": {"IMG_0001.jpg", "IMG_0001 copy.jpg", "backup/IMG_0001.jpg"},
        "near": {"IMG_0002.jpg", "IMG_0002-q60.jpg", "IMG_0002-small.jpg", "IMG_0002.png"},
        "shots": {f"BURST_{i}.jpg" for i in range(4)},
    }


def names(group, folder: Path) -> set[str]:
    return {Path(m.path).relative_to(folder).as_posix() for m in group.members}


def snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    return {str(p): (p.read_bytes(), p.stat().st_mtime_ns) for p in folder.rglob("*")
            if p.is_file()}


@pytest.fixture(scope="module")
def encoder(tmp_path_factory, onnx_cache, trained_model):
    with pytest.MonkeyPatch.context() as mp:  # module scope: isolated_paths is not set yet
        mp.setenv("CLIPDESK_ONNX_CACHE", str(onnx_cache))
        mp.setenv("HF_HOME", str(tmp_path_factory.mktemp("hf")))
        enc = models.load(models.ModelSpec.parse(trained_model), device="cpu")
        enc.encode_texts(["warm up"])  # sessions load now, under the patched cache
    return enc


@pytest.fixture(scope="module")
def photos_library(tmp_path_factory, encoder):
    """(library, model row, photos folder, expected groups), indexed once for the module."""
    base = tmp_path_factory.mktemp("duplicates").resolve()
    photos = base / "photos"
    expected = make_photos(photos)
    library = Library(base / "lib")
    Indexer(library, encoder, on_progress=lambda *_: None).run([photos])
    yield library, library.model_row(encoder.spec), photos, expected
    library.close()


@pytest.mark.parametrize("exact_max", [duplicates.EXACT_MAX, 0])  # all pairs; usearch's k-NN
def test_the_three_kinds_are_found_apart(photos_library, monkeypatch, exact_max):
    monkeypatch.setattr(duplicates, "EXACT_MAX", exact_max)
    library, model, photos, expected = photos_library
    groups = find_groups(library, model, threshold=T, shots_threshold=T)
    assert sorted(g.kind for g in groups) == ["exact", "near", "shots"]
    for g in groups:
        assert names(g, photos) == expected[g.kind], g.kind


def test_the_keeper_is_the_original(photos_library):
    library, model, photos, _ = photos_library
    keep = {g.kind: Path(g.keep).relative_to(photos).as_posix()
            for g in find_groups(library, model, threshold=T, shots_threshold=T)}
    # exact: the name without "copy", then the earliest file; near: full size, JPEG, the
    # earliest (the q60 re-encode was written after it); shots: the first of the burst
    assert keep == {"exact": "IMG_0001.jpg", "near": "IMG_0002.jpg", "shots": "BURST_0.jpg"}


def test_wasted_space_orders_the_groups(photos_library):
    library, model, _, _ = photos_library
    groups = find_groups(library, model, threshold=T, shots_threshold=T)
    for g in groups:
        assert g.members[0].path == g.keep
        assert g.wasted == sum(os.path.getsize(m.path) for m in g.members[1:]) > 0
        assert g.as_json()["bytes"] == g.wasted
    assert [g.wasted for g in groups] == sorted((g.wasted for g in groups), reverse=True)


def test_members_carry_what_the_view_shows(photos_library):
    library, model, photos, _ = photos_library
    near = find_groups(library, model, kinds=["near"], threshold=T)[0]
    small = next(m for m in near.members if m.path.endswith("IMG_0002-small.jpg"))
    assert (small.width, small.height) == (320, 240)
    assert small.taken_at == stamp("2024:05:02 10:00:00")
    png = next(m for m in near.members if m.path.endswith(".png"))
    assert png.taken_at is None and png.size == os.path.getsize(png.path)


def test_exact_copies_need_no_model(photos_library):
    library, _, photos, expected = photos_library
    groups = find_groups(library, None, kinds=["exact"])
    assert [names(g, photos) for g in groups] == [expected["exact"]]
    with pytest.raises(ValueError, match="model"):
        find_groups(library, None, kinds=["near"])


def test_a_lower_threshold_is_needed_for_other_shots_of_a_class(photos_library):
    """The other blue square scores ~0.95 against IMG_0002 but was taken a month later: a
    different shot, never a near copy, at any threshold; a stricter threshold than any copy's
    score finds nothing."""
    library, model, photos, expected = photos_library
    loose = find_groups(library, model, kinds=["near"], threshold=0.5)
    assert "other-blue-square.jpg" not in set().union(*(names(g, photos) for g in loose))
    assert find_groups(library, model, kinds=["near"], threshold=1.0) == []


def test_a_burst_needs_its_shots_seconds_apart(photos_library):
    library, model, photos, expected = photos_library
    assert find_groups(library, model, kinds=["shots"], shots_threshold=T, shot_gap=0.5) == []
    groups = find_groups(library, model, kinds=["shots"], shots_threshold=T, shot_gap=1.0)
    assert [names(g, photos) for g in groups] == [expected["shots"]]


def test_folder_keeps_the_groups_inside_it(photos_library):
    library, model, photos, _ = photos_library
    groups = find_groups(library, model, threshold=T, shots_threshold=T, folder=photos / "backup")
    assert groups == []
    outside = find_groups(library, model, kinds=["exact"], folder=photos.parent)
    assert len(outside) == 1


def test_nothing_is_written(photos_library):
    library, model, photos, _ = photos_library
    before, version = snapshot(photos), library.catalog.version
    find_groups(library, model, threshold=T, shots_threshold=T)
    assert snapshot(photos) == before and library.catalog.version == version


# ---------------------------------------------------------------------- files that changed


@pytest.fixture
def own_library(tmp_path, encoder):
    """A fresh copy of the photos, indexed: for tests that change files."""
    photos = tmp_path / "photos"
    expected = make_photos(photos)
    library = Library(tmp_path / "lib")
    Indexer(library, encoder, on_progress=lambda *_: None).run([photos])
    yield library, library.model_row(encoder.spec), photos, expected
    library.close()


def test_vanished_and_changed_files_are_left_out_and_reported(own_library):
    library, model, photos, expected = own_library
    (photos / "IMG_0001 copy.jpg").unlink()
    changed = photos / "IMG_0002-small.jpg"
    changed.write_bytes(changed.read_bytes() + b"edited")
    stale: list[tuple[str, str]] = []
    groups = find_groups(library, model, threshold=T, shots_threshold=T, stale=stale)
    assert stale == [(str(photos / "IMG_0001 copy.jpg"), "vanished"),
                     (str(changed), "changed since it was indexed")]
    by_kind = {g.kind: names(g, photos) for g in groups}
    assert by_kind["exact"] == expected["exact"] - {"IMG_0001 copy.jpg"}
    assert by_kind["near"] == expected["near"] - {"IMG_0002-small.jpg"}
    # the keeper itself gone: the next best keeps the group
    (photos / "IMG_0002.jpg").unlink()
    near = find_groups(library, model, kinds=["near"], threshold=T)
    assert [Path(g.keep).name for g in near] == ["IMG_0002-q60.jpg"]


def test_incremental_add_matches_a_full_pass(own_library, encoder):
    library, model, photos, _ = own_library
    finder = DuplicateFinder(library, model, threshold=T, shots_threshold=T).build()
    assert len(finder.groups()) == 3
    # new arrivals: a fourth exact copy, a near copy of a photo alone until now, a new shot
    new = photos / "new"
    new.mkdir()
    shutil.copyfile(photos / "IMG_0001.jpg", new / "IMG_0001 (2).jpg")
    with Image.open(photos / "other-yellow-square.jpg") as im:
        im.resize((400, 300)).save(new / "yellow-small.jpg", quality=80,
                                   exif=exif_for("2024:01:15 15:30:00"))
    with Image.open(photos / "BURST_3.jpg") as im:
        im.transpose(Image.Transpose.FLIP_LEFT_RIGHT).crop((0, 0, 639, 479)).save(
            new / "BURST_4.jpg", quality=90, exif=exif_for("2024:05:03 12:00:05"))
    Indexer(library, encoder, on_progress=lambda *_: None).run([photos])
    ids = [r.id for r in library.catalog.files_under(1, str(new)).values()]
    assert len(ids) == 3
    touched = finder.add(ids)
    assert sorted(g.kind for g in touched) == ["exact", "near", "shots"]  # not the blue group
    assert all(str(new) in {str(Path(m.path).parent) for m in g.members} for g in touched)
    full = find_groups(library, model, threshold=T, shots_threshold=T)
    assert finder.groups() == full
    assert sorted((g.kind, len(g.members)) for g in full) == [
        ("exact", 4), ("near", 2), ("near", 4), ("shots", 5)]  # the yellow pair: a new group


def test_incremental_remove_matches_a_full_pass(own_library, encoder):
    library, model, photos, _ = own_library
    finder = DuplicateFinder(library, model, threshold=T, shots_threshold=T).build()
    leaving = [photos / "IMG_0002.jpg", photos / "IMG_0002.png", photos / "BURST_1.jpg",
               photos / "backup" / "IMG_0001.jpg"]
    ids = [library.catalog.file_by_path(str(p)).id for p in leaving]
    for p in leaving:
        p.unlink()
    Indexer(library, encoder, on_progress=lambda *_: None).run([photos])
    finder.remove(ids)
    assert finder.groups() == find_groups(library, model, threshold=T, shots_threshold=T)
    assert sorted(len(g.members) for g in finder.groups()) == [2, 2, 3]


# ---------------------------------------------------------------------- the keeper


def member(path: str, size=(4000, 3000), taken: float | None = 100.0, mtime=100.0) -> Member:
    return Member(1, path, 1000, size[0] if size else None, size[1] if size else None, taken,
                  mtime, "h")


@pytest.mark.parametrize("best,other", [
    (member("/a/small.png", (4000, 3000)), member("/a/big-copy.jpg", (2000, 1500))),
    (member("/a/IMG_1.jpg"), member("/a/IMG_1.png")),
    (member("/a/IMG_1.HEIC"), member("/a/IMG_1.webp")),
    (member("/a/DSC_0001.NEF"), member("/a/DSC_0001.png")),
    (member("/a/IMG_1.jpg", mtime=500), member("/a/IMG_1 copy.jpg", mtime=100)),
    (member("/a/IMG_1.jpg", mtime=500), member("/a/IMG_1 (1).jpg", mtime=100)),
    (member("/b/x.jpg", taken=50), member("/a/x.jpg", taken=60)),
    (member("/b/x.jpg", taken=None, mtime=50), member("/a/x.jpg", taken=None, mtime=60)),
    (member("/a/known.jpg"), member("/a/unknown.jpg", size=None)),
])
def test_suggest_keep(best, other):
    assert suggest_keep([other, best]) is best and suggest_keep([best, other]) is best


# ---------------------------------------------------------------------- the k-NN graph


def fake_library(tmp_path: Path, n: int, dim: int, seed: int = 3):
    """A library of ``n`` fake photos (no files; the catalog and index only) with random unit
    embeddings, planted near copies, and the exact pairs above 0.95 (numpy, all pairs)."""
    rng = np.random.default_rng(seed)
    vectors = rng.standard_normal((n, dim)).astype(np.float32)
    for i in range(0, 300, 3):  # 100 planted trios: two near copies of i
        for j in (1, 2):
            vectors[i + j] = vectors[i] + rng.standard_normal(dim) * 0.12
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    library = Library(tmp_path / "lib")
    root = tmp_path / "photos"
    rid = library.catalog.add_root(root)
    model = library.catalog.model("local-dir:/fake", dim)
    paths = [str(root / f"{i:05d}.jpg") for i in range(n)]
    library.catalog.record_scan(rid, {p: FoundFile(p, 10, 1) for p in paths}, {}, [])
    rows = library.catalog.files_under(rid, str(root))
    library.catalog.record_outcomes(model, [
        Outcome(rows[p].id, 10, 1, hash=f"h{i}", width=10, height=10, new_vector=vectors[i])
        for i, p in enumerate(paths)])
    f16 = vectors.astype(np.float16).astype(np.float32)
    f16 /= np.linalg.norm(f16, axis=1, keepdims=True)
    sims = f16 @ f16.T
    truth = {frozenset(paths[k] for k in pair)
             for pair in zip(*np.nonzero(np.triu(sims >= 0.95, k=1)), strict=True)}
    return library, model, truth


def pairs(groups) -> set[frozenset]:
    return {frozenset((a.path, b.path)) for g in groups for a in g.members for b in g.members
            if a.path < b.path}


@pytest.mark.parametrize("exact_max", [0, 10_000])  # usearch's k-NN graph; all pairs
def test_near_pairs_match_an_exact_scan(tmp_path, monkeypatch, exact_max):
    monkeypatch.setattr(duplicates, "EXACT_MAX", exact_max)
    monkeypatch.setattr(duplicates, "CHUNK", 700)  # several chunks
    library, model, truth = fake_library(tmp_path, 3000, 32)
    groups = find_groups(library, model, kinds=["near"], threshold=0.95, verify=False)
    assert len(truth) >= 250  # the planted trios, ~3 pairs each
    assert pairs(groups) == truth
    library.close()


def test_copies_keeping_their_date_are_found_even_where_the_graph_misses(photos_library,
                                                                         monkeypatch):
    """With a k-NN graph that finds nothing, the exact comparison among photos sharing one
    EXIF date still finds the re-encode and the resize; the dateless PNG needs the graph."""
    library, model, photos, expected = photos_library
    monkeypatch.setattr(duplicates, "EXACT_MAX", 0)
    monkeypatch.setattr(DuplicateFinder, "_neighbours", lambda self, hashes: [])
    near = find_groups(library, model, kinds=["near"], threshold=T)
    assert [names(g, photos) for g in near] == [expected["near"] - {"IMG_0002.png"}]


def test_a_raw_beside_its_jpeg_is_one_shot_never_a_duplicate(tmp_path, encoder):
    """RAW+JPEG of one shot (same folder, same name) score ~1.00 against each other but are
    the camera's two forms of one shot: the RAW is never in a group beside its own JPEG, while
    the JPEG's e-mailed copy still is."""
    from dngfiles import jpeg, write_dng

    rng = np.random.default_rng(11)
    photos = tmp_path / "photos"
    photos.mkdir()
    taken = "2024:07:01 09:00:00"
    for name, (color, shape) in (("IMG_0005", ("blue", "square")),
                                 ("IMG_0006", ("red", "circle"))):
        picture = tinyclip.draw_shape(color, shape, rng, (640, 480))
        write_dng(photos / f"{name}.DNG", picture, preview=jpeg(picture, taken=taken), taken=taken)
        picture.save(photos / f"{name}.JPG", quality=92, exif=exif_for(taken))
    with Image.open(photos / "IMG_0005.JPG") as im:
        im.resize((320, 240)).save(photos / "IMG_0005 small.jpg", quality=80,
                                   exif=exif_for(taken))
    library = Library(tmp_path / "lib")
    report = Indexer(library, encoder, on_progress=lambda *_: None).run([photos])
    assert report.total == 5 and not report.failed
    model = library.model_row(encoder.spec)
    raw_jpeg = duplicates.DuplicateFinder(library, model, threshold=T)
    vectors = raw_jpeg.build()._vectors([library.catalog.file_by_path(str(photos / n)).hash
                                         for n in ("IMG_0006.DNG", "IMG_0006.JPG")])
    assert float(vectors[0] @ vectors[1]) > T  # near copies by their pictures
    groups = find_groups(library, model, threshold=T, shots_threshold=T)
    assert [(g.kind, names(g, photos)) for g in groups] == [
        ("near", {"IMG_0005.JPG", "IMG_0005 small.jpg"})]
    assert groups[0].keep == str(photos / "IMG_0005.JPG")
    library.close()
