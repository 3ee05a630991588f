"""RAW+JPEG pairs: which files are one shot, how search hits and the browse listing fold them
(the JPEG in front, the RAW beside it), and what stays apart. Real catalogs in tmp_path."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import dngfiles
import numpy as np
import pytest
from modulepaths import module_paths

import tinyclip
from clipdesk.core import browse, models, pairs
from clipdesk.core.catalog import Catalog
from clipdesk.core.indexer import Indexer
from clipdesk.core.library import Library
from clipdesk.core.query import Filters, parse
from clipdesk.core.scan import FoundFile, media_kind
from clipdesk.core.search import Hit, Searcher


def test_one_shot_is_same_folder_same_name_case_ignored_one_raw_one_jpeg():
    assert pairs.shot_key("/p/IMG_0001.CR2") == (pairs.shot_key("/p/img_0001.jpg")[0], True)
    assert pairs.shot_key("/p/IMG_0001.JPG")[1] is False
    assert pairs.shot_key("/p.d/IMG") is None and pairs.is_raw("/p/x.NEF")
    assert pairs.shot_key("/p/IMG_0001.png") is None  # a PNG is no camera's developed picture
    assert pairs.shot_key("/p/notes.txt") is None
    got = pairs.fold(["/p/IMG_0001.CR2", "/p/img_0001.jpg", "/q/IMG_0001.JPG", "/p/IMG_0002.NEF",
                      "/p/IMG_0003.jpeg", "/p/IMG_0003.png", "/p/IMG_0004.HEIC", "/p/img_0004.dng"])
    # the JPEG keeps its own place; /q is another folder; IMG_0002 has no JPEG; the PNG of
    # IMG_0003 is no pair; a HEIF is a developed picture too
    assert got.rows.tolist() == [1, 2, 3, 4, 5, 6]
    assert got.raws == {0: "/p/IMG_0001.CR2", 5: "/p/img_0004.dng"}


def test_same_shot_is_a_raw_and_a_jpeg_never_two_of_a_kind():
    assert pairs.same_shot("/p/IMG_1.CR2", "/p/img_1.jpg")
    assert pairs.same_shot("/p/IMG_1.HEIC", "/p/IMG_1.dng")
    assert not pairs.same_shot("/p/IMG_1.jpg", "/p/IMG_1.jpeg")  # two JPEGs: maybe copies
    assert not pairs.same_shot("/p/IMG_1.CR2", "/q/IMG_1.jpg")
    assert not pairs.same_shot("/p/IMG_1.CR2", "/p/IMG_1.png")


def test_hits_fold_into_the_jpeg_at_the_better_place_with_the_better_score():
    hits = [Hit("/p/a.jpg", 0.9, 1, None), Hit("/p/B.ARW", 0.8, 2, None),
            Hit("/p/c.jpg", 0.7, 3, None), Hit("/p/a.dng", 0.6, 4, None),
            Hit("/p/b.JPG", 0.5, 5, None), Hit("/p/lone.orf", 0.4, 6, None)]
    got, raws = pairs.fold_hits(hits)
    assert [(h.path, h.score, h.file_id) for h in got] == [
        ("/p/a.jpg", 0.9, 1), ("/p/b.JPG", 0.8, 5), ("/p/c.jpg", 0.7, 3), ("/p/lone.orf", 0.4, 6)]
    assert raws == {0: "/p/a.dng", 1: "/p/B.ARW"}
    assert hits[4].score == 0.5  # the caller's hits are not changed


def test_a_raw_whose_jpeg_was_left_out_on_purpose_leaves_too():
    """"Find similar" and "Fewer like these" leave the JPEG out: its RAW, all but the same
    picture, must not take its place at the top."""
    hits = [Hit("/p/a.CR2", 0.99, 1, None), Hit("/p/x.jpg", 0.5, 2, None),
            Hit("/p/x.cr2", 0.4, 3, None)]
    got, raws = pairs.fold_hits(hits, dropped=["/p/A.jpg"])
    assert [h.path for h in got] == ["/p/x.jpg"] and raws == {0: "/p/x.cr2"}
    assert [h.path for h in pairs.fold_hits(hits, dropped=["/p/a.png"])[0]] == [
        "/p/a.CR2", "/p/x.jpg"]  # a PNG is no pair


def test_nothing_to_pair_keeps_every_row():
    paths = ["/p/a.jpg", "/p/b.nef", "/p/c.png"]
    got = pairs.fold(paths, at_first=True)
    assert got.rows.tolist() == got.places.tolist() == [0, 1, 2] and got.raws == {}


def add(catalog: Catalog, root: Path, files: dict[str, float]) -> None:
    rid = catalog.add_root(root)
    found = {str(root / name): FoundFile(str(root / name), 10, int(when * 1e9))
             for name, when in files.items()}
    catalog.record_scan(rid, found, catalog.files_under(rid, str(root)), [])


def test_browse_folds_pairs_keeps_the_jpeg_date_and_the_media_filters(tmp_path):
    catalog = Catalog(tmp_path / "lib")
    root = tmp_path / "photos"
    day = datetime(2024, 5, 15, 12).timestamp()
    # the RAW written a second after its JPEG: the pair sits where the JPEG's date puts it
    add(catalog, root, {"IMG_1.JPG": day, "IMG_1.CR2": day + 1, "IMG_2.jpg": day - 10,
                        "IMG_3.CR2": day - 20, "old.jpg": datetime(2023, 1, 1).timestamp()})
    got = browse.listing(catalog, pair_raws=True)
    names = [Path(p).name for p in got.paths]
    assert names == ["IMG_1.JPG", "IMG_2.jpg", "IMG_3.CR2", "old.jpg"]
    assert got.raws == {0: str(root / "IMG_1.CR2")}
    assert got.months.counts.tolist() == [3, 1] and len(got.ids) == len(got.hashes) == 4
    both = browse.listing(catalog)  # the setting to show both; and the CLI's albums
    assert len(both) == 5 and both.raws == {}
    photos = browse.listing(catalog, Filters(media="photo"), pair_raws=True)
    assert [Path(p).name for p in photos.paths] == ["IMG_1.JPG", "IMG_2.jpg", "old.jpg"]
    assert photos.raws == {0: str(root / "IMG_1.CR2")}  # the JPEG keeps its RAW
    raw = browse.listing(catalog, Filters(media="raw"), pair_raws=True)
    assert [Path(p).name for p in raw.paths] == ["IMG_1.CR2", "IMG_3.CR2"] and raw.raws == {}
    catalog.close()


# ------------------------------------------------------------- searching real RAW+JPEG shots


@pytest.fixture(scope="module")
def shots(tmp_path_factory, onnx_cache, trained_model):
    """Two RAW+JPEG shots as a camera writes them (a DNG and a JPEG of one scene, the RAW's
    name in another case for the second), a RAW alone and two JPEGs alone, indexed with the
    trained tiny CLIP: (library, searcher, photos folder)."""
    base = tmp_path_factory.mktemp("pairs").resolve()
    with module_paths(base, onnx_cache):  # module scope: before isolated_paths
        encoder = models.load(models.ModelSpec.parse(trained_model), device="cpu")
        photos = base / "photos"
        photos.mkdir()
        for seed, (jpeg, raw, color, shape) in enumerate([
                ("IMG_0001.JPG", "IMG_0001.DNG", "red", "circle"),
                ("IMG_0002.JPG", "img_0002.dng", "blue", "square"),
                (None, "IMG_0003.DNG", "red", "circle"),
                ("red.jpg", None, "red", "circle"), ("blue.jpg", None, "blue", "square")]):
            rng = np.random.default_rng(seed)
            taken = f"2024:05:01 1{seed}:00:00"
            if jpeg:
                picture = tinyclip.draw_shape(color, shape, rng, size=(420, 300))
                (photos / jpeg).write_bytes(dngfiles.jpeg(picture, taken=taken))
            if raw:
                picture = tinyclip.draw_shape(color, shape, rng, size=(400, 280))
                dngfiles.write_dng(photos / raw, picture, preview=dngfiles.jpeg(picture),
                                   taken=taken)
        library = Library(base / "lib")
        report = Indexer(library, encoder, on_progress=lambda *_: None).run([photos])
        assert report.embedded == 7 and not report.failed
    yield library, Searcher(library, library.model_row(encoder.spec), lambda: encoder), photos
    library.close()


def test_a_photos_search_folds_each_pair_before_the_raws_leave_as_browsing_does(shots):
    """The "Photos" filter with the pairs setting on (the app's default): each pair is its
    JPEG with its RAW beside it, in search as in browsing, at the place and score the pair
    has in the unfiltered search. The RAW used to be left out before folding: no badge."""
    library, searcher, photos = shots
    text = tinyclip.caption("red", "circle")
    raw_of = {str(photos / "IMG_0001.JPG"): str(photos / "IMG_0001.DNG"),
              str(photos / "IMG_0002.JPG"): str(photos / "img_0002.dng")}
    found = searcher.answer(parse(text, filters=Filters(media="photo")), n=10)
    assert sorted(Path(h.path).name for h in found) == [
        "IMG_0001.JPG", "IMG_0002.JPG", "blue.jpg", "red.jpg"]
    shown, raws = pairs.fold_hits(found)  # what the app does with the hits
    assert {shown[i].path: raw for i, raw in raws.items()} == raw_of
    assert {h.path: h.raw for h in found if h.raw is not None} == raw_of
    unfiltered, _ = pairs.fold_hits(searcher.answer(parse(text), n=10))
    assert [(h.path, h.score) for h in shown] == [
        (h.path, pytest.approx(h.score)) for h in unfiltered if media_kind(h.path) == "photo"]
    listing = browse.listing(library.catalog, Filters(media="photo"), pair_raws=True)
    assert sorted(listing.paths) == sorted(h.path for h in shown)
    assert {listing.paths[i]: raw for i, raw in listing.raws.items()} == raw_of


def test_a_raw_search_shows_every_raw_and_photos_without_pairs_only_the_jpegs(shots):
    """"RAW photos" lists the RAW files themselves, those of pairs too, in search as in
    browsing; with the pairs setting off (and on the command line) "Photos" lists the
    JPEGs, which the app shows without a badge."""
    library, searcher, photos = shots
    text = tinyclip.caption("blue", "square")
    raws = searcher.answer(parse(text, filters=Filters(media="raw")), n=10)
    assert sorted(Path(h.path).name for h in raws) == [
        "IMG_0001.DNG", "IMG_0003.DNG", "img_0002.dng"]
    assert Path(raws[0].path).name == "img_0002.dng"
    listing = browse.listing(library.catalog, Filters(media="raw"), pair_raws=True)
    assert sorted(listing.paths) == sorted(h.path for h in raws) and listing.raws == {}
    found = searcher.answer(parse(text, filters=Filters(media="photo")), n=10)
    listing = browse.listing(library.catalog, Filters(media="photo"))
    assert sorted(listing.paths) == sorted(h.path for h in found)


def test_a_photos_search_like_a_jpeg_leaves_its_raw_out_too(shots):
    """Find similar on a pair leaves its JPEG out: its RAW must not lend that JPEG's place to
    another photo, nor show."""
    _, searcher, photos = shots
    jpeg = str(photos / "IMG_0001.JPG")
    found = searcher.answer(parse("", [jpeg], exclude=[jpeg], filters=Filters(media="photo")),
                            n=10)
    assert sorted(Path(h.path).name for h in found) == ["IMG_0002.JPG", "blue.jpg", "red.jpg"]
    shown, raws = pairs.fold_hits(found, dropped=[jpeg])
    assert {shown[i].path: raw for i, raw in raws.items()} == {
        str(photos / "IMG_0002.JPG"): str(photos / "img_0002.dng")}
